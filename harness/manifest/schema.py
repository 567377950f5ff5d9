"""JSON Schema validation of manifest documents, with one-line, path-qualified errors.

The schema file ships in the package (``harness/schemas/manifest.schema.json``) so other
tools can validate manifests too. jsonschema does the structural work; this module only
turns its verdict into ``manifest.json: modalities[2].kind: 'radar' is not one of ...``
and adds the cross-field checks a schema cannot state (unique names, mean/std lengths).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from harness.errors import ManifestError

SCHEMA_VERSION = 1
_MAX_REPR = 60


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The shipped JSON Schema (draft 2020-12) as a dict."""
    text = resources.files("harness").joinpath("schemas/manifest.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def format_path(path: Iterable[Any]) -> str:
    """``['modalities', 2, 'input']`` -> ``modalities[2].input`` (empty path -> ``<root>``)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _describe(error: Any) -> str:
    """One readable sentence for a jsonschema ``ValidationError``."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown field {', '.join(map(repr, extra))}{hint}"
    if kind == "required":
        missing = [name for name in expected if isinstance(instance, Mapping) and name not in instance]
        return f"missing required field {', '.join(map(repr, missing))}"
    if kind == "enum":
        return f"{_short(instance)} is not one of {', '.join(map(repr, expected))}"
    if kind == "const":
        return f"{_short(instance)} is not supported, expected {expected!r}"
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return f"expected {wanted}, got {type(instance).__name__} {_short(instance)}"
    if kind == "pattern":
        return f"{_short(instance)} is not allowed here (must be a plain name / a file inside the model directory)"
    if kind == "not":
        return f"field not allowed: {error.schema.get('description', 'see docs/manifest.md')}"
    if kind in _BOUNDS:
        return f"got {_short(instance)}, expected a number {_BOUNDS[kind]} {expected}"
    if kind in ("minItems", "maxItems") and isinstance(instance, list):
        bound = "at least" if kind == "minItems" else "at most"
        return f"has {len(instance)} item(s), expected {bound} {expected}"
    if kind == "minLength":
        return f"{_short(instance)} is too short, expected at least {expected} character(s)"
    message = error.message
    return message if len(message) <= 160 else message[:157] + "..."


def _error_path(error: Any) -> list[Any]:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [name for name in error.validator_value if name not in error.instance]
        if len(missing) == 1:
            path.append(missing[0])
    forbidden = (
        error.validator_value.get("required", [])
        if error.validator == "not" and isinstance(error.validator_value, Mapping)
        else []
    )
    if len(forbidden) == 1:
        path.append(forbidden[0])
    return path


def validate_document(doc: Any, where: str = "manifest.json") -> None:
    """Raise ``ManifestError`` with the most relevant schema violation, then cross-field problems."""
    import jsonschema

    if not isinstance(doc, Mapping):
        raise ManifestError(f"{where}: expected a JSON object at the top level, got {type(doc).__name__}")
    if doc.get("schema_version") not in (None, SCHEMA_VERSION):
        raise ManifestError(
            f"{where}: schema_version: {_short(doc.get('schema_version'))} is not supported by this mmharness "
            f"(supports {SCHEMA_VERSION}); upgrade mmharness or re-export the model"
        )
    errors = list(_validator().iter_errors(doc))
    if errors:
        best = jsonschema.exceptions.best_match(errors, key=_relevance)
        raise ManifestError(f"{where}: {format_path(_error_path(best))}: {_describe(best)}")
    problems = semantic_problems(doc)
    if problems:
        raise ManifestError(f"{where}: {problems[0]}")


def _relevance(error: Any) -> Any:
    # prefer deep, specific errors ("unknown field" under modalities[1]) over "not valid under anyOf"
    weak = error.validator in ("anyOf", "oneOf", "if", "allOf", "not")
    return (-len(error.path), weak)


def semantic_problems(doc: Mapping[str, Any]) -> list[str]:
    """Cross-field rules of a schema-valid document, each ``path: what; expected; fix``."""
    graphs = doc.get("graphs", {})
    claimed: dict[tuple[str, str], str] = {}
    problems = _modality_problems(doc.get("modalities", []), graphs, claimed)
    for index, constant in enumerate(doc.get("constants", [])):
        graph = constant.get("graph", "model")
        problems += _unknown_graph(f"constants[{index}].graph", graph, graphs)
        problems += _claim(claimed, graph, constant["input"], f"constants[{index}].input")
    seen_outputs: set[tuple[str, str]] = set()
    for index, output in enumerate(doc.get("outputs", [])):
        graph = output.get("graph", "model")
        problems += _unknown_graph(f"outputs[{index}].graph", graph, graphs)
        if (graph, output["name"]) in seen_outputs:
            problems.append(f"outputs[{index}].name: duplicate output {output['name']!r}")
        seen_outputs.add((graph, output["name"]))
    return problems + _class_problems(doc)


def _claim(claimed: dict[tuple[str, str], str], graph: str, name: str, by: str) -> list[str]:
    """Each graph input has one meaning: a second claimant (modality, mask or constant) is a
    problem naming the first; the first is recorded in ``claimed``."""
    key = (graph, name)
    if key in claimed:
        return [f"{by}: graph input {name!r} is already claimed by {claimed[key]}; each input has one meaning"]
    claimed[key] = by
    return []


def _unknown_graph(at: str, graph: str, graphs: Mapping[str, Any]) -> list[str]:
    """A ``graph`` reference that names no key of ``graphs``, listing the keys there are."""
    if graph in graphs:
        return []
    return [f"{at}: {graph!r} is not a key of graphs ({', '.join(graphs)})"]


def _modality_problems(modalities: Iterable[Mapping[str, Any]], graphs: Mapping[str, Any],
                       claimed: dict[tuple[str, str], str]) -> list[str]:
    """Unique names, known graphs, one claim per input/mask input, and sane preprocessing."""
    problems: list[str] = []
    seen_names: dict[str, int] = {}
    for index, modality in enumerate(modalities):
        at = f"modalities[{index}]"
        name = modality["name"]
        if name in seen_names:
            problems.append(f"{at}.name: duplicate modality {name!r} (also modalities[{seen_names[name]}])")
        seen_names[name] = index
        graph = modality.get("graph", "model")
        problems += _unknown_graph(f"{at}.graph", graph, graphs)
        problems += _claim(claimed, graph, modality["input"], f"{at}.input")
        problems += _preprocess_problems(at, modality)
        mask = modality.get("missing", {}).get("mask_input")
        if mask is not None:
            problems += _claim(claimed, graph, mask, f"{at}.missing.mask_input")
    return problems


def _preprocess_problems(at: str, modality: Mapping[str, Any]) -> list[str]:
    """mean/std lengths fit the channels; integer inputs take raw values (no normalization)."""
    problems: list[str] = []
    channels = modality["channels"]
    for key in ("mean", "std"):
        values = modality.get("preprocess", {}).get(key)
        if values is not None and len(values) not in (1, channels):
            problems.append(f"{at}.preprocess.{key}: {len(values)} values, expected 1 or channels={channels}")
    dtype = modality["dtype"]
    pre = modality.get("preprocess", {})
    if dtype not in ("float32", "float16") and (
        pre.get("scale", 1.0) != 1.0
        or any(v != 0 for v in pre.get("mean", [0]))
        or any(v != 1 for v in pre.get("std", [1]))
    ):
        problems.append(
            f"{at}.preprocess: dtype {dtype} inputs take raw values; remove preprocess or use float32/float16"
        )
    return problems


def _class_problems(doc: Mapping[str, Any]) -> list[str]:
    """Unique class names, and an ``ignore_index`` that is not itself a class id."""
    classes = doc.get("classes")
    if classes is None:
        return []
    problems: list[str] = []
    if len(set(classes)) != len(classes):
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        problems.append(f"classes: duplicate class names {dupes}")
    ignore = doc.get("ignore_index")
    if ignore is not None and 0 <= ignore < len(classes):
        problems.append(
            f"ignore_index: {ignore} is a valid class id (classes 0..{len(classes) - 1}); use a value outside 0..{len(classes) - 1}, e.g. 255 or -1"
        )
    return problems
