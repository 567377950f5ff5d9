"""Modality-bias scores against hand arithmetic from docs/metrics.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import DataError
from harness.metrics import bias

CLEAN = [1, 1, 1, 0, 1, 0, 1, 1, 0, 1]  # 7/10 -> 70 %
REMOVED = [1, 0, 1, 0, 0, 0, 1, 0, 0, 1]  # 4/10 -> 40 %
TEXT_REMOVED = [True, False, False, False, True, False, False, False, False, False]  # 20 %
PERMUTED = ([1, 0, 0, 0, 1, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0, 1, 0, 1, 1])  # 30 %, 40 %


def test_accuracy_gain_leakage_by_hand():
    assert bias.accuracy(CLEAN) == pytest.approx(70.0)
    assert bias.accuracy([0.5, 1.0, 0.0]) == pytest.approx(50.0)  # soft VQA scores
    assert bias.multimodal_gain(CLEAN, REMOVED) == pytest.approx(30.0)  # 70 − 40
    base = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0]  # 20 %
    assert bias.multimodal_leakage(REMOVED, base) == pytest.approx(20.0)  # max(0, 40 − 20)
    assert bias.multimodal_leakage(REMOVED, [1] * 5 + [0] * 5) == 0.0  # 40 − 50 clipped at 0


def test_perceptual_score_and_swap_sensitivity_by_hand():
    ps = bias.perceptual_score(CLEAN, PERMUTED)
    assert ps.per_seed == (pytest.approx(30.0), pytest.approx(40.0))
    assert ps.absolute == pytest.approx(35.0)  # 70 − (30 + 40) / 2
    assert ps.relative == pytest.approx(0.5)  # 35 / 70
    clean = np.array(["A", "B", "C", "D", "A"])
    perms = [np.array(["A", "C", "C", "D", "B"]), np.array(["B", "B", "C", "D", "A"])]  # 2/5, 1/5 changed
    assert bias.swap_sensitivity(clean, perms) == pytest.approx(0.3)
    assert bias.swap_sensitivity([0, 1, 2], [[0, 1, 2]]) == 0.0


def test_chance_blind_gap_shapley_and_vision_reliance_by_hand():
    assert bias.chance_accuracy([4, 4, 2, 5]) == pytest.approx(30.0)  # 100·(¼ + ¼ + ½ + ⅕)/4
    assert bias.chance_accuracy(4) == pytest.approx(25.0)
    assert bias.blind_gap(REMOVED, 25.0) == pytest.approx(15.0)  # 40 − 25
    # v(IT)=70, v(T)=40, v(I)=20, v(∅)=25
    # φ_I = ½[(20 − 25) + (70 − 40)] = 12.5 ; φ_T = ½[(40 − 25) + (70 − 20)] = 32.5 ; sum 45 = 70 − 25
    sh = bias.shapley_shares(CLEAN, REMOVED, TEXT_REMOVED, chance=25.0)
    assert (sh.image, sh.text) == (pytest.approx(12.5), pytest.approx(32.5))
    assert (sh.image_share, sh.text_share) == (pytest.approx(12.5 / 45), pytest.approx(32.5 / 45))
    assert sh.empty_value == 25.0
    assert bias.vision_reliance(CLEAN, REMOVED, 25.0) == pytest.approx(30 / 45)  # MG / (70 − 25)
    assert math.isnan(bias.vision_reliance(CLEAN, REMOVED, 80.0))  # clean not above chance


def test_summary_holds_what_the_probes_allow():
    s = bias.summarize(CLEAN, REMOVED, chance=25.0)
    assert s.perceptual_score is None and s.shapley is None and s.multimodal_leakage is None
    full = bias.summarize(
        CLEAN,
        REMOVED,
        chance=25.0,
        permuted=PERMUTED,
        clean_answers=list("ABCDABCDAB"),
        permuted_answers=[list("ABCDABCDAA")],
        text_removed=TEXT_REMOVED,
        base_llm=[0] * 10,
    )
    d = full.to_dict()
    assert d["multimodal_gain"] == pytest.approx(30.0) and d["swap_sensitivity"] == pytest.approx(0.1)
    assert d["perceptual_score"]["absolute"] == pytest.approx(35.0) and d["multimodal_leakage"] == pytest.approx(40.0)
    assert bias.summarize([0, 0], [0, 0], chance=50.0).to_dict()["vision_reliance"] is None


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.floats(0, 100))
def test_shapley_shares_are_efficient(seed, n, chance):
    rng = np.random.default_rng(seed)
    c, r, t = (rng.random(n) < q for q in rng.random(3))
    sh = bias.shapley_shares(c, r, t, chance)
    assert sh.image + sh.text == pytest.approx(100 * c.mean() - chance, abs=1e-9)
    if not math.isnan(sh.image_share):
        assert sh.image_share + sh.text_share == pytest.approx(1.0)


def test_bad_probe_arrays():
    with pytest.raises(DataError, match="probe 'image=removed' has 3 samples, the clean probe has 10"):
        bias.multimodal_gain(CLEAN, [1, 0, 1])
    with pytest.raises(DataError, match=r"values must lie in \[0, 1\], got \[2.0\]"):
        bias.accuracy([1, 2, 0])
    with pytest.raises(DataError, match=r"must lie in \[0, 1\], got \[nan\]"):
        bias.accuracy([1.0, float("nan")])
    with pytest.raises(DataError, match="1-D"):
        bias.accuracy([[1, 0]])
    with pytest.raises(DataError, match="dtype"):
        bias.accuracy(["yes", "no"])
    with pytest.raises(DataError, match="no seed given"):
        bias.perceptual_score(CLEAN, [])
    with pytest.raises(DataError, match=r"chance accuracy must be a percentage in \[0, 100\]"):
        bias.blind_gap(REMOVED, 150.0)
    with pytest.raises(DataError, match="image=permuted/k=0"):
        bias.swap_sensitivity(["A", "B"], [["A"]])
    with pytest.raises(DataError, match="num_choices"):
        bias.chance_accuracy([4, 0])
