"""Parse JSON and YAML a hostile or damaged file cannot crash: nesting deeper than any
mmharness document, integers too long to convert, NaN/Infinity and overflowing floats
(``1e999`` parses to inf) are refused with one line instead of a RecursionError, ValueError
or an inf that later passes a gate floor.

``json_loads``/``yaml_loads`` raise ``ValueError`` with a short reason; each loader turns it
into its own ``HarnessError`` subclass naming the file, so the exit code stays the loader's.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # results.json nests about 8 deep; 64 leaves room and stays far from the C stack


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of the float range (inf)")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed; write null with a reason instead")


def check_depth(value: Any, limit: int = MAX_DEPTH) -> Any:
    """``value`` unchanged when it nests at most ``limit`` containers deep (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                raise ValueError(f"nested more than {limit} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def json_loads(text: str, **hooks: Any) -> Any:
    """``json.loads`` that raises only ``ValueError`` (JSONDecodeError is one) for bad input."""
    hooks.setdefault("parse_float", _finite)
    hooks.setdefault("parse_constant", _no_constant)
    try:
        return check_depth(json.loads(text, **hooks))
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:  # also "Exceeds the limit (4300 digits) for integer string conversion"
        if isinstance(error, json.JSONDecodeError):
            raise
        raise ValueError(str(error).splitlines()[0][:200]) from None


def yaml_loads(text: str) -> Any:
    """``yaml.safe_load`` that raises only ``ValueError`` for bad input (YAMLError, deep nesting,
    non-finite floats such as ``.nan``/``.inf`` anywhere in the document)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: linear on deep nesting (the pure parser takes seconds)
    try:
        value = check_depth(yaml.load(text, Loader=loader))  # noqa: S506  (a safe loader)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or (str(error).splitlines()[0] if str(error) else type(error).__name__)
        mark = getattr(error, "problem_mark", None)
        raise ValueError(f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)) from None
    _finite_tree(value)
    return value


def _finite_tree(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a finite number")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
