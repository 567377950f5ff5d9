"""mIoU^Avg, mIoU^E(p) and Shapley against hand arithmetic from docs/metrics.md and properties."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError, ResultsError
from harness.metrics.robustness import (
    aggregate,
    mean_relative_robustness,
    missing_sets,
    relative_robustness,
    set_label,
    shapley,
)

F = frozenset


def test_n1_both_aggregates_are_the_clean_miou():
    # C = {∅}; Avg = 42 / 1; E(p) = (1-p)^1 · 42 / (1-p)^1 = 42
    out = aggregate({F(): 42.0}, ["rgb"], ps=(0.2, 0.1))
    assert out["avg"] == 42.0 and out["E"] == {0.2: pytest.approx(42.0), 0.1: pytest.approx(42.0)}
    assert shapley({F(): 42.0}, ["rgb"]) == {"rgb": 42.0}


N2 = {F(): 60.0, F({"rgb"}): 30.0, F({"depth"}): 50.0}


def test_n2_by_hand():
    out = aggregate(N2, ["rgb", "depth"], ps=(0.2, 0.1))
    assert out["avg"] == pytest.approx((60 + 30 + 50) / 3)
    # p=0.2: w(∅)=0.8²=0.64, w({rgb})=w({depth})=0.2·0.8=0.16, Σw=0.96=1-0.2²
    # num = 0.64·60 + 0.16·30 + 0.16·50 = 38.4 + 4.8 + 8.0 = 51.2
    assert out["E"][0.2] == pytest.approx(51.2 / 0.96)
    # p=0.1: w = 0.81, 0.09, 0.09 (Σ 0.99); num = 48.6 + 2.7 + 4.5 = 55.8
    assert out["E"][0.1] == pytest.approx(55.8 / 0.99)
    # present-set game: v({rgb}) = table[{depth}] = 50, v({depth}) = table[{rgb}] = 30, v(all) = 60
    # φ_rgb = ½(50 − 0) + ½(60 − 30) = 40 ; φ_depth = ½(30 − 0) + ½(60 − 50) = 20
    assert shapley(N2, ["rgb", "depth"]) == {"rgb": pytest.approx(40.0), "depth": pytest.approx(20.0)}
    # with v(∅) = 10: φ_rgb = ½·40 + ½·30 = 35, φ_depth = ½·20 + ½·10 = 15
    assert shapley(N2, ["rgb", "depth"], empty_value=10.0) == {"rgb": pytest.approx(35.0), "depth": pytest.approx(15.0)}


N3 = {F(): 70.0, F("a"): 40.0, F("b"): 60.0, F("c"): 65.0, F("ab"): 20.0, F("ac"): 30.0, F("bc"): 50.0}


def test_n3_by_hand():
    out = aggregate(N3, ["a", "b", "c"], ps=(0.1, 0.5))
    assert out["avg"] == pytest.approx(335 / 7)  # 70+40+60+65+20+30+50 = 335 over 7 sets
    # p=0.1: w(|S|=0)=0.729, w(|S|=1)=0.081, w(|S|=2)=0.009; Σw = 0.729+3·0.081+3·0.009 = 0.999
    # num = 0.729·70 + 0.081·(40+60+65) + 0.009·(20+30+50) = 51.03 + 13.365 + 0.9 = 65.295
    assert out["E"][0.1] == pytest.approx(65.295 / 0.999)
    # p=0.5: every set weighs 0.125, so E(0.5) = Avg
    assert out["E"][0.5] == pytest.approx(335 / 7)
    # v(a)=table[bc]=50, v(b)=table[ac]=30, v(c)=table[ab]=20, v(ab)=table[c]=65,
    # v(ac)=table[b]=60, v(bc)=table[a]=40, v(abc)=70; weights 1/3 (|T|=0,2), 1/6 (|T|=1)
    # φ_a = 50/3 + (65−30)/6 + (60−20)/6 + (70−40)/3 = (100+35+40+60)/6 = 235/6
    # φ_b = 30/3 + (65−50)/6 + (40−20)/6 + (70−60)/3 = (60+15+20+20)/6 = 115/6
    # φ_c = 20/3 + (60−50)/6 + (40−30)/6 + (70−65)/3 = (40+10+10+10)/6 = 70/6
    phi = shapley(N3, ["a", "b", "c"])
    assert phi == {"a": pytest.approx(235 / 6), "b": pytest.approx(115 / 6), "c": pytest.approx(70 / 6)}


MODS4 = ["rgb", "depth", "event", "lidar"]
# mIoU(S) = 60 − 10·|S| − 5·[rgb ∈ S]
N4 = {s: 60.0 - 10 * len(s) - (5 if "rgb" in s else 0) for s in missing_sets(MODS4)}


def test_n4_by_hand():
    assert len(N4) == 15
    out = aggregate(N4, MODS4, ps=(0.2,))
    # sizes 0,1,2,3 occur 1,4,6,4 times: Σ(60−10|S|) = 60 + 200 + 240 + 120 = 620;
    # rgb is in 1 + 3 + 3 = 7 sets: −35  ->  585 / 15 = 39
    assert out["avg"] == pytest.approx(39.0)
    # p=0.2: w by size 0.4096, 0.1024, 0.0256, 0.0064; Σw = 0.4096+0.4096+0.1536+0.0256 = 0.9984
    # Σw(60−10|S|) = 24.576 + 20.48 + 6.144 + 0.768 = 51.968
    # rgb sets weigh 0.1024 + 3·0.0256 + 3·0.0064 = 0.1984  ->  −5·0.1984 = −0.992
    assert out["E"][0.2] == pytest.approx((51.968 - 0.992) / 0.9984)
    # v = u + w: u(T) = 60 − 10(4−|T|) is symmetric -> 60/4 = 15 each;
    # w(T) = −5·[rgb absent from T] for T ≠ ∅: rgb's marginal is +5 for every non-empty T
    # without rgb, total weight 3·(1/12) + 3·(1/12) + 1·(1/4) = 3/4 -> +3.75; each other
    # modality loses 5 only at T = ∅ (weight 1/4) -> −1.25
    phi = shapley(N4, MODS4)
    assert phi == {
        "rgb": pytest.approx(18.75),
        "depth": pytest.approx(13.75),
        "event": pytest.approx(13.75),
        "lidar": pytest.approx(13.75),
    }


def permutation_shapley(table, mods, empty):
    """Independent oracle: average marginal contribution over all N! arrival orders."""
    everything = frozenset(mods)

    def v(present):
        return table[everything - present] if present else empty

    out = dict.fromkeys(mods, 0.0)
    orders = list(itertools.permutations(mods))
    for order in orders:
        present = frozenset()
        for m in order:
            out[m] += v(present | {m}) - v(present)
            present = present | {m}
    return {m: x / len(orders) for m, x in out.items()}


miou = st.floats(0, 100, allow_nan=False)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 4))
    mods = ["rgb", "depth", "event", "lidar"][:n]
    return mods, {s: draw(miou) for s in missing_sets(mods)}


@settings(max_examples=60, deadline=None)
@given(tables(), miou)
def test_shapley_is_efficient_and_matches_permutation_oracle(mt, empty):
    mods, table = mt
    phi = shapley(table, mods, empty_value=empty)
    assert math.fsum(phi.values()) == pytest.approx(table[F()] - empty, abs=1e-9)
    oracle = permutation_shapley(table, mods, empty)
    for m in mods:
        assert phi[m] == pytest.approx(oracle[m], abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(tables(), st.floats(0.001, 0.99))
def test_avg_and_expected_lie_between_min_and_max(mt, p):
    mods, table = mt
    out = aggregate(table, mods, ps=(p,))
    lo, hi = min(table.values()), max(table.values())
    assert lo - 1e-9 <= out["avg"] <= hi + 1e-9
    assert lo - 1e-9 <= out["E"][p] <= hi + 1e-9


@settings(max_examples=60, deadline=None)
@given(tables())
def test_expected_tends_to_clean_as_p_goes_to_zero(mt):
    mods, table = mt
    out = aggregate(table, mods, ps=(0.0, 1e-4, 1e-8))
    clean = table[F()]
    assert out["E"][0.0] == clean
    # the non-clean weight is 1 − (1−p)^N ≤ N·p of a spread of at most 100
    assert abs(out["E"][1e-4] - clean) <= len(mods) * 1e-4 * 100 + 1e-9
    assert abs(out["E"][1e-8] - clean) <= len(mods) * 1e-8 * 100 + 1e-9
    assert out["E"][1e-8] == pytest.approx(clean, abs=1e-5)


def test_paper_rounding_rounds_cells_then_results():
    table = {F(): 50.004, F({"rgb"}): 40.006, F({"depth"}): 30.0}
    out = aggregate(table, ["rgb", "depth"], ps=(0.2,), paper_rounding=True)
    assert out["avg"] == round((50.0 + 40.01 + 30.0) / 3, 2)
    assert out["E"][0.2] == round((0.64 * 50.0 + 0.16 * 40.01 + 0.16 * 30.0) / 0.96, 2)


def test_bad_tables_name_the_set():
    mods = ["rgb", "depth", "event"]
    table = {s: 50.0 for s in missing_sets(mods)}
    partial = dict(table)
    del partial[F({"depth", "event"})]
    with pytest.raises(ResultsError, match=r"no mIoU for missing set \{depth\+event\}.*2\^3 - 1 = 7"):
        aggregate(partial, mods)
    with pytest.raises(ResultsError, match=r"all-missing set \{rgb\+depth\+event\}"):
        shapley({**table, F(mods): 1.0}, mods)
    with pytest.raises(ResultsError, match=r"\{thermal\} names unknown modalities \['thermal'\]"):
        aggregate({**table, F({"thermal"}): 1.0}, mods)
    with pytest.raises(ResultsError, match=r"missing set \{rgb\}: expected a finite value, got nan"):
        aggregate({**table, F({"rgb"}): float("nan")}, mods)
    with pytest.raises(ResultsError, match="is not a set"):
        aggregate({**table, "rgb": 1.0}, mods)
    with pytest.raises(ConfigError, match=r"p must be a number in \[0, 1\)"):
        aggregate(table, mods, ps=(1.0,))
    with pytest.raises(ConfigError, match="distinct names"):
        aggregate(table, ["rgb", "rgb"])


def test_set_labels_and_order():
    assert missing_sets(["a", "b"]) == [F(), F("a"), F("b")]
    assert set_label(F({"event", "depth"}), ["rgb", "depth", "event"]) == "depth+event"
    assert set_label(F(), ["rgb"]) == "clean"


def test_relative_robustness_by_hand():
    # (40/50 + 30/50 + 25/50) / 3 = (0.8 + 0.6 + 0.5) / 3
    assert relative_robustness(50.0, {1: 40.0, 2: 30.0, 3: 25.0}) == pytest.approx(1.9 / 3)
    assert relative_robustness(50.0, [50.0]) == 1.0
    out = mean_relative_robustness(50.0, {"fog": [40.0, 30.0], "snow": {1: 50.0}})
    assert out["per_corruption"] == {"fog": pytest.approx(0.7), "snow": 1.0}
    assert out["mean"] == pytest.approx(0.85)
    with pytest.raises(ResultsError, match="positive clean mIoU"):
        relative_robustness(0.0, [1.0])
    with pytest.raises(ResultsError, match="NM fog: no corrupted mIoU"):
        mean_relative_robustness(50.0, {"fog": []})
