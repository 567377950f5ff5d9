"""VQA JSONL format (round trip, file:line errors) and the synthetic-vqa generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.data.vqa import (
    PRIOR_COLOR,
    PRIOR_COUNT,
    load_vqa_jsonl,
    synthetic_vqa,
    write_vqa_jsonl,
)
from harness.errors import DataError


def test_jsonl_round_trip_keeps_items_and_pixels(tmp_path):  # type: ignore[no-untyped-def]
    data = synthetic_vqa(size=8, seed=3)
    path = write_vqa_jsonl(data, tmp_path / "vqa")
    back = load_vqa_jsonl(path)
    assert [(i.question, i.choices, i.answer, i.tags) for i in back] == [(i.question, i.choices, i.answer, i.tags) for i in data]
    for a, b in zip(data, back):
        np.testing.assert_array_equal(a.image, b.image)
    assert back.fingerprint() == data.fingerprint()


def _write(tmp_path, lines):  # type: ignore[no-untyped-def]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"question": "q", "answer": "a"', "d.jsonl:2: malformed JSON"),
        ('{"question": "", "answer": "a"}', "d.jsonl:2: question"),
        ('{"question": "q", "answer": "x", "choices": ["a", "b"]}', "d.jsonl:2: answer: 'x' is not one of choices"),
        ('{"question": "q", "answer": "a", "image": "nope.png"}', "d.jsonl:2: image: file .*nope.png not found"),
        ('{"question": "q", "answer": "a", "colour": 1}', "d.jsonl:2: unknown fields \\['colour'\\]"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, line, match):  # type: ignore[no-untyped-def]
    path = _write(tmp_path, ['{"question": "ok", "answer": "a"}', line])
    with pytest.raises(DataError, match=match):
        load_vqa_jsonl(path)


def test_unreadable_image_is_data_error(tmp_path):  # type: ignore[no-untyped-def]
    (tmp_path / "bad.png").write_bytes(b"not a png")
    path = _write(tmp_path, [json.dumps({"question": "q", "answer": "a", "image": "bad.png"})])
    with pytest.raises(DataError, match="d.jsonl:1: image: cannot read"):
        load_vqa_jsonl(path)


def test_synthetic_is_deterministic_and_tags_follow_the_prior():  # type: ignore[no-untyped-def]
    a, b = synthetic_vqa(size=60, seed=1), synthetic_vqa(size=60, seed=1)
    assert a.fingerprint() == b.fingerprint()
    assert synthetic_vqa(size=60, seed=2).fingerprint() != a.fingerprint()
    for item in a:
        assert item.answer in item.choices and item.image.shape == (32, 32, 3)
        if item.category == "color":
            shape = item.question.split()[-2]
            assert ("tempting" in item.tags) == (item.answer != PRIOR_COLOR[shape])
        if item.category == "count":
            assert ("tempting" in item.tags) == (item.answer != PRIOR_COUNT)


def test_prior_strength_controls_the_tempting_fraction():  # type: ignore[no-untyped-def]
    strong = synthetic_vqa(size=400, prior_strength=0.9)
    weak = synthetic_vqa(size=400, prior_strength=0.3)
    fraction = lambda d: np.mean(["tempting" in i.tags for i in d])
    assert fraction(strong) < 0.2
    assert fraction(weak) > 0.6


def test_counts_are_visible_in_the_image():  # type: ignore[no-untyped-def]
    """The count answer equals the number of connected coloured blobs (an independent check)."""
    from scipy import ndimage

    data = synthetic_vqa(size=40, seed=5)
    for item in (i for i in data if i.category == "count"):
        saturated = item.image.max(axis=2).astype(int) - item.image.min(axis=2) > 100
        blobs = ndimage.label(saturated)[1]
        assert blobs == ("one", "two", "three").index(item.answer) + 1
