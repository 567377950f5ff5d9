"""The gate at its exact limits and through every refusal (issue 19): a floor is ``>=`` (a value
equal to the floor passes, the next float below fails), a maximum drop is ``<=``, an unavailable
metric fails its floor, and each bad thresholds file or foreign baseline is refused with its own
message. Results documents come from one tiny EMM sweep (and one cell shard of it); values are
set by hand where a boundary needs an exact number."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sweep_fixtures import backend, config, write_model

from harness.errors import ConfigError, ExitCode, ResultsError
from harness.gate import DEFAULT_MAX_DROP, HEADLINE, Rule, Thresholds, default_thresholds, evaluate, junit_cases, load_thresholds, render_table
from harness.report.results import load_results
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec

CLEAN = "emm/missing=none"


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("gate_limits")
    model = write_model(root / "model")
    plan = PlanSpec(scenarios=("emm",))
    full = run_sweep(config(model, root / "full", plan=plan, bootstrap=20), backend=backend())
    shard = run_sweep(config(model, root / "shard", plan=plan, bootstrap=0, shard="2/2"), backend=backend()).doc
    return {"full": full.doc, "shard": shard, "full_images": load_results(full.path)[1]}


def _set_clean(doc: dict[str, Any], value: float, ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """A copy of ``doc`` whose clean cell reads ``value`` (and ``ci``, or none)."""
    out = copy.deepcopy(doc)
    figures = out["cells"][CLEAN]["figures"]
    figures["miou"] = value
    figures["miou_ci"] = list(ci) if ci else None
    return out


def _one(report, metric: str):
    (check,) = [c for c in report.checks if c.metric == metric]
    return check


def _floor(limit: float, metric: str = "clean") -> Thresholds:
    return Thresholds((Rule("floor", metric, limit),))


def _drop(limit: float, metric: str = "clean", significant_only: bool = False) -> Thresholds:
    return Thresholds((Rule("max_drop", metric, limit),), significant_only)


# ---- floors and maximum drops at their exact limits ---------------------------------------------


def test_a_value_exactly_at_its_floor_passes_and_the_next_float_below_fails(docs):
    value = docs["full"]["cells"][CLEAN]["figures"]["miou"]
    assert _one(evaluate(docs["full"], _floor(value)), "clean").status == "pass"
    assert _one(evaluate(docs["full"], _floor(math.nextafter(value, math.inf))), "clean").status == "fail"
    assert _one(evaluate(docs["full"], _floor(math.nextafter(value, -math.inf))), "clean").status == "pass"


def test_a_drop_exactly_at_max_drop_passes_and_just_above_fails(docs):
    base, current = _set_clean(docs["full"], 50.0), _set_clean(docs["full"], 48.5)
    at = _one(evaluate(current, _drop(1.5), base), "clean")
    assert (at.status, at.value, at.baseline, at.detail) == ("pass", 48.5, 50.0, "drop +1.50")
    above = _one(evaluate(current, _drop(math.nextafter(1.5, -math.inf)), base), "clean")
    assert above.status == "fail" and above.detail == "drop 1.50 > 1.5"
    improved = _one(evaluate(base, _drop(0.0), current), "clean")  # a gain is a negative drop
    assert improved.status == "pass" and improved.detail == "drop -1.50"
    assert _one(evaluate(base, _drop(0.0), base), "clean").status == "pass"  # max_drop 0: equal passes


def test_a_zero_max_drop_is_allowed_and_a_negative_one_refused(tmp_path):
    assert load_thresholds(_file(tmp_path, "max_drop:\n  clean: 0\n")).rules == (Rule("max_drop", "clean", 0.0),)
    with pytest.raises(ConfigError, match=r"max_drop\.clean: a maximum drop must be >= 0, got -0\.5"):
        load_thresholds(_file(tmp_path, "max_drop:\n  clean: -0.5\n"))


def test_limits_up_to_a_million_in_size_are_accepted_and_larger_ones_refused(tmp_path):
    edge = f"floors:\n  clean: 1000000\n  emm.avg: -1000000.0\nmax_drop:\n  clean: 1.0e+6\n"
    assert [r.limit for r in load_thresholds(_file(tmp_path, edge)).rules] == [1e6, -1e6, 1e6]
    for text in (f"floors:\n  clean: {math.nextafter(1e6, math.inf)!r}\n", f"floors:\n  clean: {math.nextafter(-1e6, -math.inf)!r}\n"):
        with pytest.raises(ConfigError, match=r": floors\.clean: expected a number, got -?1000000\.0000000001 \(limits lie within ±1e\+06\)$"):
            load_thresholds(_file(tmp_path, text))


def test_the_default_thresholds_are_a_max_drop_of_one_point_on_the_headline_metrics():
    assert DEFAULT_MAX_DROP == 1.0
    assert HEADLINE == ("clean", "emm.avg", "rmm@*.avg", "nm.liao.*", "nm.rr")
    rules = default_thresholds(0.5, significant_only=True)
    assert rules.rules == tuple(Rule("max_drop", p, 0.5) for p in HEADLINE)
    assert rules.significant_only and not rules.strict and rules.source == "(default: max drop 0.5 on headline metrics)"
    assert default_thresholds().rules[0] == Rule("max_drop", "clean", 1.0)


# ---- unavailable metrics never pass --------------------------------------------------------------


def test_an_unavailable_metric_fails_its_floor_with_the_reason(docs):
    """A cell shard lacks the clean cell (it went to shard 1/2): clean and the EMM aggregates are
    unavailable, and even a floor of 0 fails on them."""
    shard = docs["shard"]
    assert CLEAN not in shard["cells"] and not shard["plan"]["complete"]
    report = evaluate(shard, Thresholds((Rule("floor", "clean", 0.0), Rule("floor", "emm.avg", 0.0))))
    clean, avg = _one(report, "clean"), _one(report, "emm.avg")
    assert (clean.status, clean.value, clean.detail) == ("fail", None, f"cell {CLEAN} is not in these results")
    assert (avg.status, avg.value) == ("fail", None) and avg.detail.startswith("cell ") and "is missing or failed" in avg.detail
    assert not report.passed and report.exit_code == ExitCode.GATE_FAILED


def test_partial_results_fail_the_coverage_check_and_complete_ones_have_none(docs):
    shard = docs["shard"]
    coverage = _one(evaluate(shard, _floor(0.0, "cell:emm/*")), "coverage")
    assert (coverage.status, coverage.rule, coverage.value) == ("fail", "complete", None)
    assert coverage.detail == f"partial results: {len(shard['cells'])} of 15 planned cells; gate the merge of all shards"
    assert [c.metric for c in evaluate(docs["full"], _floor(0.0)).checks] == ["failed_cells", "clean"]
    # shards by samples: every cell ran, on part of the images, until all I/N are merged
    one = copy.deepcopy(docs["full"])
    one["shards"] = [{"index": 2, "count": 3, "by": "samples"}]
    detail = _one(evaluate(one, _floor(0.0)), "coverage").detail
    assert detail == "partial results: shard(s) 2/3 by samples cover 6 images only; gate the merge of all shards"
    one["shards"] = [{"index": i, "count": 3, "by": "samples"} for i in (1, 3)]
    assert "shard(s) 1/3, 3/3 by samples" in _one(evaluate(one, _floor(0.0)), "coverage").detail
    one["shards"] = [{"index": i, "count": 3, "by": "samples"} for i in (1, 2, 3)]
    assert [c.metric for c in evaluate(one, _floor(0.0)).checks] == ["failed_cells", "clean"]


def test_a_cell_glob_on_a_shard_fails_for_the_planned_cells_the_shard_lacks(docs):
    shard = docs["shard"]
    report = evaluate(shard, Thresholds((Rule("floor", "cell:emm/*", 0.0),)))
    by_status = {status: sorted(c.metric for c in report.checks if c.status == status and c.metric not in ("failed_cells", "coverage"))
                 for status in ("pass", "fail")}
    planned = [f"cell:{cid}" for cid in shard["plan"]["cells"]]
    assert by_status["pass"] == sorted(f"cell:{cid}" for cid in shard["cells"])
    assert by_status["fail"] == sorted(set(planned) - {f"cell:{cid}" for cid in shard["cells"]})
    assert len(by_status["pass"]) + len(by_status["fail"]) == 15
    assert _one(report, f"cell:{CLEAN}").detail == f"cell {CLEAN} is not in these results (a partial shard?)"


def test_a_failed_cell_fails_its_floor_and_the_failed_cells_check(docs):
    doc = copy.deepcopy(docs["full"])
    doc["cells"]["emm/missing=rgb"].update(status="failed", reason="NaN/Inf in outputs", figures=None)
    report = evaluate(doc, _floor(0.0, "cell:emm/missing=rgb"))
    cell, failed = _one(report, "cell:emm/missing=rgb"), _one(report, "failed_cells")
    assert (cell.status, cell.detail) == ("fail", "cell emm/missing=rgb failed: NaN/Inf in outputs")
    assert (failed.status, failed.value, failed.limit, failed.detail) == ("fail", 1.0, 0.0, "cells with NaN/Inf outputs or errors: emm/missing=rgb")
    clean_run = _one(evaluate(docs["full"], _floor(0.0)), "failed_cells")
    assert (clean_run.status, clean_run.value, clean_run.detail) == ("pass", 0.0, "")


def test_max_drop_fails_an_unavailable_value_and_skips_what_the_baseline_lacks(docs):
    full, shard = docs["full"], docs["shard"]
    gone = _one(evaluate(shard, _drop(100.0), full), "clean")
    assert (gone.status, gone.value, gone.baseline) == ("fail", None, full["cells"][CLEAN]["figures"]["miou"])
    assert gone.detail == f"cell {CLEAN} is not in these results"
    new = _one(evaluate(full, _drop(0.0), shard), "clean")
    assert (new.status, new.baseline, new.detail) == ("skip", None, "not in the baseline")


# ---- significance: each way a drop can be judged ------------------------------------------------


def test_significant_only_without_sidecars_uses_the_ci_of_the_value(docs):
    base = _set_clean(docs["full"], 50.0)
    rules = _drop(1.0, significant_only=True)
    # drop 3 > 1; the value's CI [46, 48.5] lies below 50 - 1 = 49: significant
    below = _one(evaluate(_set_clean(docs["full"], 47.0, (46.0, 48.5)), rules, base), "clean")
    assert below.status == "fail" and below.detail == "drop 3.00 > 1; CI of the value [46.00, 48.50]"
    # the CI reaches exactly 49: not entirely below, so not significant
    edge = _one(evaluate(_set_clean(docs["full"], 47.0, (46.0, 49.0)), rules, base), "clean")
    assert edge.status == "pass"
    bare = _one(evaluate(_set_clean(docs["full"], 47.0), rules, base), "clean")
    assert bare.status == "fail" and bare.detail.endswith("no CI available: counted as significant")
    # within the limit, significance is not consulted at all
    assert _one(evaluate(_set_clean(docs["full"], 49.0), rules, base), "clean").detail == "drop +1.00"


def test_significant_only_with_both_sidecars_uses_the_paired_bootstrap_of_the_drop(docs):
    images = {k: np.asarray(docs["full_images"][k]) for k in docs["full_images"]}
    worse = {**images, CLEAN: images["emm/missing=rgb+depth+event"]}  # every image scored as with lidar only
    base, current = _set_clean(docs["full"], 50.0), _set_clean(docs["full"], 40.0)
    rules = _drop(1.0, significant_only=True)
    same = _one(evaluate(current, rules, base, images, images), "clean")  # same images, same scores: drop CI [0, 0]
    assert same.status == "pass" and same.detail == "drop 10.00 > 1; paired bootstrap CI of the drop [0.00, 0.00]"
    lost = _one(evaluate(current, rules, base, worse, images), "clean")
    assert lost.status == "fail" and lost.detail.startswith("drop 10.00 > 1; paired bootstrap CI of the drop [")
    low = float(lost.detail.split("[")[1].split(",")[0])
    assert low > 1.0
    # the run's own bootstrap settings (20 resamples, seed 0); 1000 when the run had none
    from harness.metrics.stats import paired_bootstrap_segmentation

    for resamples, n_boot in ((20, 20), (0, 1000)):
        run = copy.deepcopy(current)
        run["config"]["bootstrap"] = resamples
        ci = paired_bootstrap_segmentation(images[CLEAN], worse[CLEAN], n_boot=n_boot, seed=run["config"]["seed"])
        detail = _one(evaluate(run, rules, base, worse, images), "clean").detail
        assert detail == f"drop 10.00 > 1; paired bootstrap CI of the drop [{ci.low:.2f}, {ci.high:.2f}]"
    # a drop CI of exactly [0, 0] against max_drop 0: its low end is not above the limit
    assert _one(evaluate(current, _drop(0.0, significant_only=True), base, images, images), "clean").status == "pass"
    other_images = {**worse, "sample_index": images["sample_index"] + 1}  # not the same images: the value's CI decides
    fallback = _one(evaluate(current, rules, base, other_images, images), "clean")
    assert fallback.detail == "drop 10.00 > 1; no CI available: counted as significant"


def test_a_run_without_bootstrap_is_judged_on_a_thousand_paired_resamples(docs, monkeypatch):
    import harness.metrics.stats as stats

    asked = []
    real = stats.paired_bootstrap_segmentation

    def spy(*args, **kwargs):
        asked.append(kwargs["n_boot"])
        return real(*args, **{**kwargs, "n_boot": 5})

    monkeypatch.setattr(stats, "paired_bootstrap_segmentation", spy)
    images = {k: np.asarray(docs["full_images"][k]) for k in docs["full_images"]}
    run = _set_clean(docs["full"], 40.0)
    run["config"]["bootstrap"] = 0
    evaluate(run, _drop(1.0, significant_only=True), _set_clean(docs["full"], 50.0), images, images)
    assert asked == [1000]


def test_a_baseline_of_exactly_zero_is_a_threshold_of_minus_the_limit(docs):
    """A metric that may be negative (e.g. a Shapley value): baseline 0, max drop 1, so the
    value's CI must lie entirely below -1 for the drop to count."""
    base, rules = _set_clean(docs["full"], 0.0), _drop(1.0, significant_only=True)
    inside = _one(evaluate(_set_clean(docs["full"], -2.0, (-3.0, -0.5)), rules, base), "clean")
    below = _one(evaluate(_set_clean(docs["full"], -2.0, (-3.0, -1.5)), rules, base), "clean")
    assert (inside.status, below.status) == ("pass", "fail")


# ---- refusals: each with its own message --------------------------------------------------------


def _file(tmp_path: Path, text: str, name: str = "thresholds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- clean\n", r": expected a mapping with version, floors, max_drop, significant_only, got list"),
        ("flors:\n  clean: 1\n", r": unknown key 'flors'; did you mean 'floors'\? \(allowed: version, floors, max_drop, significant_only\)"),
        ("zzz: 1\n", r": unknown key 'zzz' \(allowed: "),
        ("version: 2\n", r": version: expected 1, got 2"),
        ("floors: [clean]\n", r": floors: expected a mapping metric -> number, got list"),
        ("max_drop: 3\n", r": max_drop: expected a mapping metric -> number, got int"),
        ("floors:\n  clean: high\n", r": floors\.clean: expected a number, got 'high'"),
        ("floors:\n  clean: true\n", r": floors\.clean: expected a number, got True"),
        ("significant_only: 1\n", r": significant_only: expected true or false, got 1"),
        ("floors: {clean: [\n", r": not valid YAML/JSON \("),
    ],
)
def test_each_bad_thresholds_file_is_refused_with_its_own_message(tmp_path, text, message):
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}{message}"):
        load_thresholds(path)


def test_a_missing_thresholds_file_and_a_well_formed_one(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: thresholds file not found$"):
        load_thresholds(tmp_path / "nope.yaml")
    path = _file(tmp_path, json.dumps({"version": 1, "floors": {"clean": 60, "emm.avg": 45.5}, "max_drop": {"rmm@*.avg": 1.5},
                                       "significant_only": True}), "t.json")
    assert load_thresholds(path) == Thresholds(
        (Rule("floor", "clean", 60.0), Rule("floor", "emm.avg", 45.5), Rule("max_drop", "rmm@*.avg", 1.5)), True, str(path))
    empty = load_thresholds(_file(tmp_path, "floors:\nmax_drop: {}\n"))
    assert empty.rules == () and not empty.significant_only and empty.strict


def test_unknown_metrics_are_refused_when_strict_and_ignored_by_the_defaults(docs):
    strict = Thresholds((Rule("floor", "emm.avgg", 1.0),), source="t.yaml")
    with pytest.raises(ConfigError, match=r"^t\.yaml: floors: unknown metric 'emm\.avgg'; did you mean 'emm\.avg'"):
        evaluate(docs["full"], strict)
    with pytest.raises(ConfigError, match=r"^t\.yaml: max_drop: unknown metric 'zz\*' \(metrics: clean, emm\.avg, "):
        evaluate(docs["full"], Thresholds((Rule("max_drop", "zz*", 1.0),), source="t.yaml"), docs["full"])
    with pytest.raises(ConfigError, match=r"^t\.yaml: floors: unknown metric 'emm\.e@0\.3'; did you mean 'emm\.e@0\.2', 'emm\.e@0\.1', 'emm\.e@0\.05'\? \("):
        evaluate(docs["full"], Thresholds((Rule("floor", "emm.e@0.3", 1.0),), source="t.yaml"))  # at most three suggestions
    lenient = Thresholds((Rule("floor", "nm.rr", 1.0),), strict=False)
    assert [c.metric for c in evaluate(docs["full"], lenient).checks] == ["failed_cells"]


def test_a_glob_matches_by_pattern_and_a_plain_name_only_itself(docs):
    report = evaluate(docs["full"], Thresholds((Rule("floor", "emm.e@0.?", 0.0), Rule("floor", "emm.shapley.[rd]*", -100.0), Rule("floor", "emm.avg", 0.0))))
    assert [c.metric for c in report.checks] == ["failed_cells", "emm.e@0.2", "emm.e@0.1", "emm.shapley.rgb", "emm.shapley.depth", "emm.avg"]
    every_wildcard = evaluate(docs["full"], Thresholds((Rule("floor", "emm.e@0.?[0-9]*", 0.0),)))  # ?, [...] and * in one pattern
    assert [c.metric for c in every_wildcard.checks] == ["failed_cells", "emm.e@0.05"]


def test_max_drop_without_a_baseline_is_refused(docs):
    with pytest.raises(ConfigError, match=r"^t\.yaml: max_drop\.clean: a maximum drop needs --baseline RESULTS$"):
        evaluate(docs["full"], Thresholds((Rule("max_drop", "clean", 1.0),), source="t.yaml"))


@pytest.mark.parametrize(("field", "other"), [("fingerprint", "0000"), ("n_samples", 5), ("classes", ["a", "b"])])
def test_a_baseline_on_other_data_is_refused_by_field(docs, field, other):
    baseline = copy.deepcopy(docs["full"])
    baseline["dataset"][field] = other
    ours = docs["full"]["dataset"][field]
    with pytest.raises(ResultsError, match=f"^baseline: dataset.{field} differs \\({re.escape(repr(other))} vs "
                                           f"{re.escape(repr(ours))}\\); a baseline must be evaluated on the same data$"):
        evaluate(docs["full"], _drop(1.0), baseline)


def _vqa(name: str) -> dict[str, Any]:
    """The smallest bias results document the gate reads (its figures come from the drift stub)."""
    return {"task": "vqa", "name": name, "cells": {}, "aggregates": {}, "plan": {"cells": [], "complete": True},
            "dataset": {"fingerprint": "f", "n_samples": 4, "classes": []}}


@pytest.mark.parametrize(("broken", "status"), [(1.0, "fail"), (0.0, "pass"), (None, "skip")])
def test_a_bias_variant_against_its_reference_always_gets_the_vision_path_check(monkeypatch, broken, status):
    """The drift figures themselves are computed (and tested) in harness.variants.drift; here the
    gate's use of them: the verdict check, and drift names usable in thresholds."""
    from harness.report.flat import Metric
    import harness.variants.drift as drift

    seen = []

    def stub(reference, candidate):
        seen.append((reference["name"], candidate["name"]))
        return {"bias.drift.accuracy": Metric(-2.5), "bias.drift.vision_path_broken": Metric(broken, reason="why" if broken is None else None)}

    monkeypatch.setattr(drift, "drift_metrics", stub)
    report = evaluate(_vqa("variant"), Thresholds((Rule("floor", "bias.drift.accuracy", -2.5),)), _vqa("reference"))
    assert seen == [("reference", "variant")]
    verdict = _one(report, "bias.drift.vision_path_broken")
    assert (verdict.status, verdict.value, verdict.limit, verdict.detail) == (status, broken, 0.0, "why" if broken is None else "")
    assert _one(report, "bias.drift.accuracy").status == "pass"  # -2.5 >= -2.5
    assert [c.metric for c in evaluate(_vqa("variant"), Thresholds(), None).checks] == ["failed_cells"]  # no baseline: no drift
    segmentation_baseline = {**_vqa("reference"), "task": "segmentation"}
    assert [c.metric for c in evaluate(_vqa("variant"), Thresholds(), segmentation_baseline).checks] == ["failed_cells"]
    assert len(seen) == 1
    # probe cells are records, not segmentation cells: a cell: glob never sees the planned ones
    planned = {**_vqa("variant"), "plan": {"cells": ["bias/clean"], "complete": True}}
    assert [c.metric for c in evaluate(planned, Thresholds((Rule("floor", "cell:*", 0.0),), strict=False)).checks] == ["failed_cells"]


# ---- the table and JUnit cases ------------------------------------------------------------------


def test_the_table_lists_failures_first_and_states_the_verdict(docs):
    value = docs["full"]["cells"][CLEAN]["figures"]["miou"]
    report = evaluate(docs["full"], Thresholds((Rule("floor", "emm.avg", 0.0), Rule("floor", "clean", 101.0))))
    lines = render_table(report).splitlines()
    assert lines[0].split() == ["status", "metric", "value", "baseline", "rule", "detail"]
    assert lines[1].split() == ["FAIL", "clean", f"{value:.2f}", "-", ">=", "101"]
    assert lines[2].split() == ["pass", "failed_cells", "0", "-", "==", "0"]
    assert lines[3].split()[:2] == ["pass", "emm.avg"] and len(lines) == 5
    assert lines[-1] == "gate: FAIL (1 check(s) failed)"
    assert render_table(evaluate(docs["full"], _floor(0.0))).splitlines()[-1] == "gate: PASS"
    mixed = evaluate(docs["full"], Thresholds((Rule("max_drop", "clean", 0.0), Rule("floor", "emm.avg", 101.0))), docs["shard"])
    assert [c.metric for c in mixed.checks] == ["failed_cells", "clean", "emm.avg"]  # pass, skip, fail as made
    assert [line.split()[:2] for line in render_table(mixed).splitlines()[1:4]] == [["FAIL", "emm.avg"], ["skip", "clean"], ["pass", "failed_cells"]]
    skipped = evaluate(docs["full"], _drop(0.0), docs["shard"])
    assert [line.split()[0] for line in render_table(skipped).splitlines()[1:3]] == ["skip", "pass"] and skipped.passed


def test_junit_cases_carry_status_rule_and_numbers(docs):
    report = evaluate(_set_clean(docs["full"], 40.0), Thresholds((Rule("floor", "clean", 50.0),)))
    cases = junit_cases(report)
    assert [(c.name, c.classname, c.status) for c in cases] == [("failed_cells", "mmharness.gate", "pass"), ("clean", "mmharness.gate", "fail")]
    assert cases[1].message == ">= 50.0 value=40.00 baseline=-"
    assert cases[0].message == "== 0.0 value=0.00 baseline=-"
