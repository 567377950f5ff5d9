"""Robustness aggregates at their edges (issue 19): the default failure probabilities pinned
(docs/metrics.md: "p ∈ {0.2, 0.1, 0.05} by default, 0 ≤ p < 1"), p at 0 and just below 1,
and every malformed table or modality list refused by its message."""

from __future__ import annotations

import math
import re

import pytest

from harness.errors import ConfigError, ResultsError
from harness.metrics.robustness import DEFAULT_PS, aggregate, relative_robustness

MODS = ("rgb", "depth")
TABLE = {frozenset(): 60.0, frozenset({"rgb"}): 20.0, frozenset({"depth"}): 40.0}


def test_the_default_failure_probabilities():
    assert DEFAULT_PS == (0.2, 0.1, 0.05)
    # E(p) = [(1-p)^2 * 60 + p(1-p) * (20 + 40)] / (1 - p^2), by hand
    expected = {p: ((1 - p) ** 2 * 60 + p * (1 - p) * 60) / (1 - p**2) for p in (0.2, 0.1, 0.05)}
    assert aggregate(TABLE, MODS)["E"] == pytest.approx(expected)
    assert aggregate(TABLE, MODS)["avg"] == 40.0


def test_p_at_0_and_just_below_1():
    assert aggregate(TABLE, MODS, ps=(0.0,))["E"] == {0.0: 60.0}  # nothing fails: the clean mIoU
    below = math.nextafter(1.0, 0.0)
    assert aggregate(TABLE, MODS, ps=(below,))["E"][below] == pytest.approx(30.0)  # one of two survives: the mean of the single-missing cells
    for p in (1.0, -0.1, True, "0.1"):
        with pytest.raises(ConfigError, match=rf"^failure probability p must be a number in \[0, 1\), got {re.escape(repr(p))}$"):
            aggregate(TABLE, MODS, ps=(p,))


@pytest.mark.parametrize("modalities", [(), ("rgb", "rgb"), ("rgb", ""), ("rgb", 3)])
def test_bad_modality_lists_are_refused(modalities):
    with pytest.raises(ConfigError, match=r"^modalities must be a non-empty sequence of distinct names, got "):
        aggregate(TABLE, modalities)


@pytest.mark.parametrize(("table", "message"), [
    ([1, 2], r"^robustness table: expected a mapping frozenset\(missing\) -> mIoU, got list$"),
    ({**TABLE, frozenset({"rgb"}): True}, r"^robustness table: missing set \{rgb\}: expected a number, got True$"),
    ({**TABLE, frozenset({"rgb"}): "20"}, r"^robustness table: missing set \{rgb\}: expected a number, got '20'$"),
    ({**TABLE, frozenset({"rgb"}): math.nan}, r"^robustness table: missing set \{rgb\}: expected a finite value, got nan; fix or re-run that cell$"),
])
def test_bad_tables_are_refused_with_their_message(table, message):
    with pytest.raises(ResultsError, match=message):
        aggregate(table, MODS)


def test_missing_sets_are_listed_up_to_four():
    mods = ("a", "b", "c", "d")  # 15 sets
    only_clean = {frozenset(): 1.0}
    with pytest.raises(ResultsError, match=r"^robustness table: no mIoU for missing set \{a\}, \{b\}, \{c\}, \{d\} and 10 more; "
                                           r"all 2\^4 - 1 = 15 sets over \(a, b, c, d\) are needed — run those cells$"):
        aggregate(only_clean, mods)
    four_left = {k: 1.0 for k in [frozenset(s) for s in ((), ("a",), ("b",), ("c",), ("d",), ("a", "b"), ("a", "c"), ("a", "d"),
                                                                  ("b", "c"), ("b", "d"), ("c", "d"))]}
    with pytest.raises(ResultsError, match=r"no mIoU for missing set \{a\+b\+c\}, \{a\+b\+d\}, \{a\+c\+d\}, \{b\+c\+d\}; all"):
        aggregate(four_left, mods)
    five_left = {k: v for k, v in four_left.items() if k != frozenset(("c", "d"))}
    with pytest.raises(ResultsError, match=r"no mIoU for missing set \{c\+d\}, \{a\+b\+c\}, \{a\+b\+d\}, \{a\+c\+d\} and 1 more; all"):
        aggregate(five_left, mods)


def test_relative_robustness_needs_a_positive_clean_miou():
    assert relative_robustness(math.nextafter(0.0, 1.0), [0.0]) == 0.0
    with pytest.raises(ResultsError, match=r"^NM: clean mIoU is 0\.0; relative robustness needs a positive clean mIoU$"):
        relative_robustness(0.0, [1.0])
    with pytest.raises(ResultsError, match=r"^NM: no corrupted mIoU given \(expected one per severity\)$"):
        relative_robustness(50.0, [])
    assert relative_robustness(50.0, {1: 50.0, 5: 25.0}) == 0.75
    from harness.metrics.robustness import mean_relative_robustness

    with pytest.raises(ResultsError, match=r"^NM: no corruptions in the table$"):
        mean_relative_robustness(50.0, {})
    assert mean_relative_robustness(50.0, {"fog": [50.0, 25.0], "snow": [10.0]}) == {"per_corruption": {"fog": 0.75, "snow": 0.2}, "mean": 0.475}


def test_paper_rounding_rounds_each_cell_before_aggregating():
    """Cells 0.004, 0.004, 0.007 round to 0.00, 0.00, 0.01: mean 0.0033 -> 0.00 (unrounded: 0.005 -> 0.01)."""
    table = {frozenset(): 0.004, frozenset({"rgb"}): 0.004, frozenset({"depth"}): 0.007}
    assert aggregate(table, MODS, ps=(0.5,), paper_rounding=True) == {"avg": 0.0, "E": {0.5: 0.0}}
    assert aggregate(table, MODS, ps=(0.5,)) == {"avg": pytest.approx(0.005), "E": {0.5: pytest.approx(0.005)}}
    rounded_after = aggregate({frozenset(): 60.0, frozenset({"rgb"}): 20.0, frozenset({"depth"}): 40.01}, MODS, ps=(0.5,), paper_rounding=True)
    assert rounded_after == {"avg": 40.0, "E": {0.5: 40.0}}  # 40.0033 and (0.25*60 + 0.25*60.01) / 0.75 = 40.0033, rounded
