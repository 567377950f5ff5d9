"""Property tests of every loader of user files: whatever the bytes, the loader returns a valid
object or raises a ``HarnessError`` whose message is one line, never another exception.

Inputs are drawn three ways: arbitrary text, arbitrary JSON/YAML values, and a valid document
with one value somewhere inside replaced (the mutations reach the checks deep inside a loader
that random documents never get past). Seeds are derandomized so CI is reproducible;
``MMH_FUZZ_EXAMPLES=2000`` fuzzes harder locally (default 60 per property).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError

FUZZ = settings(max_examples=int(os.environ.get("MMH_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["", "..", "/etc/passwd", "../x", "{id}", "a" * 300, 10**400, -1, 0, 1.5]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
texts = st.one_of(st.text(max_size=200), st.sampled_from([
    "[" * 5000, "{" * 3000, "1" * 5000, "NaN", "Infinity", "1e999", "\x00\xff", "- a\n-", "a: &a [*a]", "!!python/object:os.system x",
]))


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with one value (at a drawn depth) replaced by a drawn value."""
    if not isinstance(doc, (dict, list)) or not doc or data.draw(st.integers(0, 4)) == 0:
        return data.draw(values)
    if isinstance(doc, dict):
        key = data.draw(st.sampled_from(sorted(doc)))
        choice = data.draw(st.integers(0, 5))
        if choice == 0:
            return {k: v for k, v in doc.items() if k != key}  # a required field missing
        return {**doc, key: _mutate(doc[key], data)}
    index = data.draw(st.integers(0, len(doc) - 1))
    return [*doc[:index], _mutate(doc[index], data), *doc[index + 1:]]


def _one_line(load: Callable[[], Any]) -> None:
    try:
        load()
    except HarnessError as error:
        assert "\n" not in str(error) and str(error), repr(error)


def _folder(files: dict[str, str | bytes]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return root


def _dumps(doc: Any) -> str:
    return json.dumps(doc, allow_nan=False, default=str)


# ---- manifest.json ---------------------------------------------------------------------------

MANIFEST = json.loads((Path(__file__).parents[2] / "models" / "mmss-synth-robust" / "manifest.json").read_text())


def _load_manifest(text: str) -> None:
    from harness.manifest import load_manifest

    _one_line(lambda: load_manifest(_folder({"manifest.json": text})))


@FUZZ
@given(text=texts)
def test_manifest_any_text(text: str) -> None:
    _load_manifest(text)


@FUZZ
@given(data=st.data())
def test_manifest_mutated(data: st.DataObject) -> None:
    _load_manifest(_dumps(_mutate(MANIFEST, data)))


# ---- thresholds --------------------------------------------------------------------------------

THRESHOLDS = {"version": 1, "floors": {"clean": 60, "emm.avg": 45}, "max_drop": {"rmm@*.avg": 1.5}, "significant_only": False}


def _load_thresholds(text: str) -> None:
    from harness.gate import load_thresholds

    _one_line(lambda: load_thresholds(_folder({"t.yaml": text}) / "t.yaml"))


@FUZZ
@given(text=texts)
def test_thresholds_any_text(text: str) -> None:
    _load_thresholds(text)


@FUZZ
@given(data=st.data())
def test_thresholds_mutated(data: st.DataObject) -> None:
    _load_thresholds(_dumps(_mutate(THRESHOLDS, data)))


# ---- results.json -----------------------------------------------------------------------------


def _load_results(text: str) -> None:
    from harness.report.results import load_results

    _one_line(lambda: load_results(_folder({"results.json": text}), with_per_image=False))


@FUZZ
@given(text=texts)
def test_results_any_text(text: str) -> None:
    _load_results(text)


@pytest.fixture(scope="module")
def results_doc(finished: Path) -> dict[str, Any]:
    return json.loads((finished / "results.json").read_text())


@FUZZ
@given(data=st.data())
def test_results_mutated(results_doc: dict[str, Any], data: st.DataObject) -> None:
    mutated = _mutate(results_doc, data)
    from harness.report.results import load_results

    try:
        doc, _ = load_results(_folder({"results.json": _dumps(mutated)}), with_per_image=False)
    except HarnessError as error:
        assert "\n" not in str(error), repr(error)
    else:  # accepted: then its figures are the ones its states give
        assert doc["cells"].keys() == results_doc["cells"].keys()


# ---- folder spec ---------------------------------------------------------------------------------

SPEC = {"classes": ["a", "b"], "ignore_index": 255, "modalities": {"rgb": "{split}/rgb/{id}.png", "depth": "{split}/depth/{id}.png"},
        "label": "{split}/label/{id}.png", "channels": {"depth": 1}, "resize_nearest": ["depth"], "label_map": {0: 255}}


def _load_spec(text: str) -> None:
    from harness.data.folder import load_spec

    _one_line(lambda: load_spec(_folder({"spec.yaml": text}) / "spec.yaml"))


@FUZZ
@given(text=texts)
def test_folder_spec_any_text(text: str) -> None:
    _load_spec(text)


@FUZZ
@given(data=st.data())
def test_folder_spec_mutated(data: st.DataObject) -> None:
    _load_spec(_dumps(_mutate(SPEC, data)))


# ---- VQA JSONL -------------------------------------------------------------------------------------

ITEM = {"id": "q1", "image": "images/q1.png", "question": "what color ?", "choices": ["red", "blue"], "answer": "red",
        "category": "color", "tags": ["typical"]}


def _png() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _load_vqa(text: str) -> None:
    from harness.data.vqa import load_vqa_jsonl

    root = _folder({"data.jsonl": text, "images/q1.png": PNG, "outside.png": PNG})
    _one_line(lambda: load_vqa_jsonl(root / "data.jsonl"))


@FUZZ
@given(text=texts)
def test_vqa_jsonl_any_text(text: str) -> None:
    _load_vqa(text)


@FUZZ
@given(data=st.data())
def test_vqa_jsonl_mutated(data: st.DataObject) -> None:
    lines = [_dumps(_mutate(ITEM, data)), _dumps({**ITEM, "id": "q2"})]
    _load_vqa("\n".join(lines) + "\n")


# ---- modality spec (export mmss --modality-spec) --------------------------------------------------

MODALITY_SPEC = [{"name": "rgb", "channels": 3, "kind": "image"}, {"name": "depth", "channels": 1, "kind": "depth"}]


def _load_modality_spec(text: str) -> None:
    from harness.manifest.modality_spec import load_modality_spec

    _one_line(lambda: load_modality_spec(_folder({"m.yaml": text}) / "m.yaml", ["rgb", "depth"]))


@FUZZ
@given(text=texts)
def test_modality_spec_any_text(text: str) -> None:
    _load_modality_spec(text)


@FUZZ
@given(data=st.data())
def test_modality_spec_mutated(data: st.DataObject) -> None:
    _load_modality_spec(_dumps(_mutate(MODALITY_SPEC, data)))
