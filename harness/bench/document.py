"""``bench.json``: the versioned document ``mmharness bench`` writes, validated against
``harness/schemas/bench.schema.json`` before it is written and when it is read back.

It sits beside ``results.json`` in the output folder: latency is a property of the artifact on
a device, robustness of the artifact on data, and the report shows both.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import InternalError, ResultsError

BENCH_NAME = "bench.json"


def schema() -> dict[str, Any]:
    text = resources.files("harness").joinpath("schemas/bench.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def problems(doc: Any) -> str | None:
    """The first schema violation as ``field: message``, or None when ``doc`` is valid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return None
    field = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{field}: {error.message}"


def write_bench(out_dir: Path, doc: dict[str, Any]) -> Path:
    """Validate and write ``out_dir/bench.json`` atomically; returns the path."""
    from harness.report.io import atomic_write, dumps

    problem = problems(doc)
    if problem is not None:
        raise InternalError(f"bench document does not match bench.schema.json: {problem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / BENCH_NAME
    atomic_write(path, dumps(doc))
    return path


def load_bench(path: Path) -> dict[str, Any]:
    """Read a bench.json (or the folder holding it); a foreign or corrupt file is a ``ResultsError``."""
    from harness.report.io import read_json

    path = path / BENCH_NAME if path.is_dir() else path
    doc = read_json(path, "bench file")
    problem = problems(doc)
    if problem is not None:
        raise ResultsError(f"{path}: {problem}")
    return doc


def bench_beside(results: Path) -> dict[str, Any] | None:
    """The validated ``bench.json`` in the folder of ``results`` (a results.json or its
    folder), or None when there is none."""
    folder = results if results.is_dir() else results.parent
    path = folder / BENCH_NAME
    return load_bench(path) if path.exists() else None
