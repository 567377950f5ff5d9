"""MLLM bias figures at the edges of their inputs (issue 19): chance at 0 and 100 %, one choice,
accuracy exactly at chance, a perceptual score of a model that is never right, and the
refusals by their messages. Figures by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from harness.errors import DataError
from harness.metrics.bias import chance_accuracy, perceptual_score, swap_sensitivity, vision_reliance


def test_chance_at_its_limits():
    assert chance_accuracy([1, 1]) == 100.0 and chance_accuracy(4) == 25.0 and chance_accuracy([2, 4]) == 37.5
    assert vision_reliance([1, 1], [0, 1], chance=0.0) == 0.5  # (100 - 50) / (100 - 0)
    assert math.isnan(vision_reliance([1, 1], [0, 0], chance=100.0))  # not above chance: nothing to attribute
    assert math.isnan(vision_reliance([1, 0], [0, 0], chance=50.0))  # exactly at chance
    assert vision_reliance([1, 0], [0, 0], chance=25.0) == 2.0  # (50 - 0) / (50 - 25)
    for chance in (-1e-9, math.nextafter(100.0, 200.0), True):
        with pytest.raises(DataError, match=rf"^chance accuracy must be a percentage in \[0, 100\], got {re.escape(repr(chance))} "):
            vision_reliance([1, 1], [0, 1], chance=chance)
    for choices in ([0, 2], [[2, 2]], [], [2.0]):
        with pytest.raises(DataError, match=r"^num_choices must be positive integers \(one per sample or one scalar\), got "):
            chance_accuracy(choices)


def test_perceptual_score_of_a_model_never_right_and_swap_sensitivity_refusals():
    never = perceptual_score([0, 0], [[0, 0]])
    assert never.absolute == 0.0 and math.isnan(never.relative)
    some = perceptual_score([1, 1, 1, 0], [[1, 0, 0, 0], [1, 1, 0, 0]])  # 75 - mean(25, 50) = 37.5
    assert (some.absolute, some.relative, some.per_seed) == (37.5, 0.5, (25.0, 50.0))
    assert swap_sensitivity(["a", "b"], [["a", "c"], ["c", "c"]]) == 0.75  # 1/2 and 2/2 changed
    with pytest.raises(DataError, match=r"^probe 'clean': expected a non-empty 1-D answer array, got shape \(0,\)$"):
        swap_sensitivity([], [[]])
    with pytest.raises(DataError, match=r"^probe 'clean': expected a non-empty 1-D answer array, got shape \(1, 2\)$"):
        swap_sensitivity([["a", "b"]], [["a", "b"]])
    with pytest.raises(DataError, match=r"^probe 'image=permuted': no seed given; run at least one permutation seed$"):
        swap_sensitivity(["a"], [])


def test_relative_perceptual_score_at_a_clean_accuracy_of_0_and_of_1_percent():
    blind_luck = perceptual_score([0, 0], [[1, 0]])  # never right on clean images, right once when permuted
    assert blind_luck.absolute == -50.0 and math.isnan(blind_luck.relative)
    one_in_100 = perceptual_score([1] + [0] * 99, [[0] * 100])  # clean accuracy exactly 1 %
    assert (one_in_100.absolute, one_in_100.relative) == (1.0, 1.0)


def test_vision_reliance_one_point_above_chance_and_swap_sensitivity_only_with_both_answer_sets():
    from harness.metrics.bias import summarize

    assert vision_reliance([1, 1, 1, 0], [1, 1, 0, 0], chance=74.0) == 25.0  # (75 - 50) / (75 - 74)
    answers_only = summarize([1, 0], [0, 0], chance=50.0, clean_answers=["a", "b"])  # no permuted answers
    seeds_only = summarize([1, 0], [0, 0], chance=50.0, permuted_answers=[["a", "b"]])  # no clean answers
    assert answers_only.swap_sensitivity is None and seeds_only.swap_sensitivity is None
