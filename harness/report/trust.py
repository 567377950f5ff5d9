"""A results file's figures are claims; its cell states are the evidence. Before report, gate,
merge or compare use a results file, every figure and aggregate is derived again from the
stored states and compared with what the file says: a file whose figures disagree (an mIoU
edited to 1e308 so a 99.99 floor passes) is refused with the first field that differs.

Bootstrap intervals need the per-image sidecar and thousands of resamples, so they are not
recomputed here; they are range-checked instead (finite, ordered, inside the figure's range).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, ResultsError

BOOTSTRAP_KEYS = frozenset({"ci", "miou_ci", "ci_method"})  # derived from resamples: range-checked, not recomputed
PERCENT_INTERVALS = frozenset({"miou_ci"})
_REL, _ABS = 1e-9, 1e-9


def check_figures(doc: Mapping[str, Any], where: Path) -> None:
    """Refuse ``doc`` unless its cell figures and aggregates equal those its states give."""
    from harness.report import derive

    fresh = {key: copy.deepcopy(doc[key]) for key in ("format", "task", "config", "dataset", "cells", "plan") if key in doc}
    fresh["config"] = {**fresh["config"], "bootstrap": 0}  # point figures only: the intervals are range-checked
    try:
        derive.cell_figures(fresh)
        aggregates = derive.aggregates(fresh, None)
    except HarnessError as error:
        raise ResultsError(f"{where}: cannot re-derive the figures from the cell states ({error})") from None
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError) as error:
        raise ResultsError(f"{where}: the cell states do not give figures ({type(error).__name__}: {error}); "
                           "the file was not written by this mmharness or was edited") from None
    for cell_id, entry in doc["cells"].items():
        _same(entry.get("figures"), fresh["cells"][cell_id].get("figures"), f"cells/{cell_id}/figures", where)
    _same(doc.get("aggregates"), aggregates, "aggregates", where)


def _refuse(where: Path, field: str, stored: Any, derived: Any) -> ResultsError:
    return ResultsError(
        f"{where}: {field}: stored {_short(stored)} but the cell states give {_short(derived)}; "
        "the figures were edited or the file is damaged: re-run, or `mmharness merge` the shards again"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _same(stored: Any, derived: Any, field: str, where: Path) -> None:
    """``stored`` equals ``derived`` (numbers within rounding); extra bootstrap keys range-checked."""
    if isinstance(derived, dict):
        if not isinstance(stored, dict):
            raise _refuse(where, field, stored, derived)
        for key, value in stored.items():
            sub = f"{field}/{key}"
            if key in BOOTSTRAP_KEYS:
                _interval_ok(value, sub, key in PERCENT_INTERVALS, where)
            elif key in derived:
                _same(value, derived[key], sub, where)
            else:
                raise ResultsError(f"{where}: {sub}: not a figure mmharness derives from the cell states; the file was edited")
        return
    if isinstance(derived, list):
        if not isinstance(stored, list) or len(stored) != len(derived):
            raise _refuse(where, field, stored, derived)
        for index, (a, b) in enumerate(zip(stored, derived)):
            _same(a, b, f"{field}/{index}", where)
        return
    if _number(derived) and _number(stored):
        if not math.isclose(float(stored), float(derived), rel_tol=_REL, abs_tol=_ABS):
            raise _refuse(where, field, stored, derived)
        return
    if stored != derived:
        raise _refuse(where, field, stored, derived)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval_ok(value: Any, field: str, percent: bool, where: Path) -> None:
    """Every ``[low, high]`` pair under ``value`` is finite and ordered (and within 0..100 for mIoU)."""
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, dict):
        if _number(value.get("low")) and _number(value.get("high")):  # the {low, high, level} form
            _interval_ok([value["low"], value["high"]], field, percent, where)
        for key, item in value.items():
            _interval_ok(item, f"{field}/{key}", percent, where)
        return
    if _number(value):
        if not math.isfinite(float(value)):
            raise ResultsError(f"{where}: {field}: {value!r} is not a finite number; the file was edited")
        return
    if isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value):
        low, high = float(value[0]), float(value[1])
        if not (math.isfinite(low) and math.isfinite(high) and low <= high) or (percent and not 0.0 <= low <= high <= 100.0):
            raise ResultsError(f"{where}: {field}: {value!r} is not a valid confidence interval; the file was edited")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _interval_ok(item, f"{field}/{index}", percent, where)
        return
    raise ResultsError(f"{where}: {field}: unexpected {type(value).__name__} in a confidence interval; the file was edited")
