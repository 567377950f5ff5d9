"""``mmharness gate``: decide whether a build may ship. Compares a results file with a
thresholds file (absolute floors, maximum drops against a baseline) and/or a baseline results
file, prints a table, and returns ``ExitCode.OK`` or ``ExitCode.GATE_FAILED``; bad input
(unknown metric names with a "did you mean", corrupt files, foreign baselines) raises
``ConfigError``/``ResultsError`` (exit 2). A failed cell (NaN/Inf outputs) always fails the
gate, and so do partial results (a shard, or shards by samples not all merged: check
``coverage``), whose unavailable metrics fail their floors rather than pass unnoticed. Metric names are those of ``harness.report.flat``; thresholds may use ``*`` globs.

Thresholds file (YAML or JSON)::

    version: 1
    floors:              # value must be >= limit (percent; ratios for nm.rr*)
      clean: 60
      emm.avg: 45
      "cell:emm/missing=rgb": 30
    max_drop:            # baseline - value must be <= limit (needs --baseline)
      emm.avg: 1.0
      "rmm@*.avg": 1.5
    significant_only: false   # true: a drop fails only when larger than its bootstrap CI
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, ExitCode, ResultsError
from harness.report.flat import Metric, flatten
from harness.report.results import PerImage

RuleKind = Literal["floor", "max_drop"]
Status = Literal["pass", "fail", "skip"]
DEFAULT_MAX_DROP = 1.0  # percent points, on the headline metrics, when only --baseline is given
HEADLINE = ("clean", "emm.avg", "rmm@*.avg", "nm.liao.*", "nm.rr")
_KEYS = ("version", "floors", "max_drop", "significant_only")
LIMIT_RANGE = 1e6  # percent points and ratios: a larger limit is a typo or a hostile file, never a threshold


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    pattern: str
    limit: float


@dataclass(frozen=True)
class Thresholds:
    rules: tuple[Rule, ...] = ()
    significant_only: bool = False
    source: str = "(defaults)"
    strict: bool = True  # unknown metric names are an error (the built-in defaults may match nothing)


@dataclass(frozen=True)
class Check:
    metric: str
    rule: str
    limit: float | None
    value: float | None
    baseline: float | None
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class GateReport:
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.passed else ExitCode.GATE_FAILED


def load_thresholds(path: Path) -> Thresholds:
    """Parse and validate a thresholds file; every problem is one line naming file and field."""
    from harness.safeload import yaml_loads

    try:
        doc = yaml_loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: thresholds file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: syntax, nesting, NaN/inf limits
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path}: not valid YAML/JSON ({first}); see `mmharness gate --help` for the format") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with {', '.join(_KEYS)}, got {type(doc).__name__}")
    for key in doc:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{path}: unknown key {key!r}{hint} (allowed: {', '.join(_KEYS)})")
    if doc.get("version", 1) != 1:
        raise ConfigError(f"{path}: version: expected 1, got {doc.get('version')!r}")
    rules: list[Rule] = []
    for key, kind in (("floors", "floor"), ("max_drop", "max_drop")):
        section = doc.get(key) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: {key}: expected a mapping metric -> number, got {type(section).__name__}")
        for pattern, limit in section.items():
            if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not -LIMIT_RANGE <= limit <= LIMIT_RANGE:
                raise ConfigError(f"{path}: {key}.{pattern}: expected a number, got {repr(limit)[:40]} (limits lie within ±{LIMIT_RANGE:g})")
            if kind == "max_drop" and limit < 0:
                raise ConfigError(f"{path}: {key}.{pattern}: a maximum drop must be >= 0, got {limit}")
            rules.append(Rule(kind, str(pattern), float(limit)))  # type: ignore[arg-type]
    significant = doc.get("significant_only", False)
    if not isinstance(significant, bool):
        raise ConfigError(f"{path}: significant_only: expected true or false, got {significant!r}")
    return Thresholds(tuple(rules), significant, str(path))


def default_thresholds(max_drop: float = DEFAULT_MAX_DROP, significant_only: bool = False) -> Thresholds:
    return Thresholds(tuple(Rule("max_drop", p, max_drop) for p in HEADLINE), significant_only, f"(default: max drop {max_drop:g} on headline metrics)", strict=False)


def _expand(pattern: str, names: Sequence[str], source: str, section: str, strict: bool) -> list[str]:
    matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)] if any(ch in pattern for ch in "*?[") else [n for n in names if n == pattern]
    if not matched and strict:
        close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(n for n in names if not n.startswith("cell:"))
        raise ConfigError(f"{source}: {section}: unknown metric {pattern!r}{hint} (metrics: {shown}, cell:<cell id>)")
    return matched


def evaluate(
    doc: Mapping[str, Any],
    thresholds: Thresholds,
    baseline: Mapping[str, Any] | None = None,
    per_image: PerImage | None = None,
    baseline_per_image: PerImage | None = None,
) -> GateReport:
    """Apply ``thresholds`` to ``doc`` (and ``baseline``); returns every check made."""
    current = flatten(doc)
    base = flatten(baseline) if baseline is not None else None
    if baseline is not None:
        _check_baseline(doc, baseline)
    checks: list[Check] = []
    failed = int(current["failed_cells"].value or 0)
    checks.append(Check("failed_cells", "==", 0.0, float(failed), None, "fail" if failed else "pass",
                        "cells with NaN/Inf outputs or errors: " + ", ".join(c for c, e in doc["cells"].items() if e["status"] == "failed") if failed else ""))
    checks += _drift(doc, baseline, current)
    partial = _partial(doc)
    if partial:
        checks.append(Check("coverage", "complete", None, None, None, "fail", partial))
    _planned_but_absent(doc, current)
    names = list(current)
    for rule in thresholds.rules:
        section = "floors" if rule.kind == "floor" else "max_drop"
        for name in _expand(rule.pattern, names, thresholds.source, section, thresholds.strict):
            if rule.kind == "floor":
                checks.append(_floor(name, current[name], rule.limit))
            elif base is None:
                raise ConfigError(f"{thresholds.source}: max_drop.{rule.pattern}: a maximum drop needs --baseline RESULTS")
            else:
                checks.append(_drop(name, current[name], base.get(name), rule.limit, thresholds.significant_only, per_image, baseline_per_image, doc))
    return GateReport(tuple(checks))


def _drift(doc: Mapping[str, Any], baseline: Mapping[str, Any] | None, current: dict[str, Metric]) -> list[Check]:
    """A bias run against a bias baseline (``bias --compare``'s variant vs reference): the drift
    figures join the metric names (``bias.drift.*``, recomputed from both files' records by
    ``harness.variants.drift``) and the "vision path broken" verdict is always checked."""
    if baseline is None or doc.get("task") != "vqa" or baseline.get("task") != "vqa":
        return []
    from harness.variants.drift import drift_metrics

    metrics = drift_metrics(baseline, doc)
    current.update(metrics)
    broken = metrics["bias.drift.vision_path_broken"]
    status: Status = "skip" if broken.value is None else "fail" if broken.value else "pass"
    return [Check("bias.drift.vision_path_broken", "==", 0.0, broken.value, None, status, broken.reason or "")]


def _partial(doc: Mapping[str, Any]) -> str:
    """Why ``doc`` covers only part of its sweep ('' when it covers all of it): planned cells
    missing (a shard by cells) or images missing (shards by samples not all merged)."""
    plan = doc.get("plan", {})
    if not plan.get("complete", True):
        return f"partial results: {len(doc['cells'])} of {len(plan.get('cells', []))} planned cells; gate the merge of all shards"
    by_samples = [s for s in doc.get("shards", []) if s.get("by") == "samples"]
    if by_samples and {s["index"] for s in by_samples} != set(range(1, by_samples[0]["count"] + 1)):
        held = ", ".join(f"{s['index']}/{s['count']}" for s in by_samples)
        return f"partial results: shard(s) {held} by samples cover {doc['dataset']['n_samples']} images only; gate the merge of all shards"
    return ""


def _planned_but_absent(doc: Mapping[str, Any], current: dict[str, Metric]) -> None:
    """A partial (shard) result lacks some planned cells: ``cell:`` globs must see them, unavailable,
    so that a floor on ``cell:emm/*`` fails for them instead of passing over them unnoticed."""
    if doc.get("task", "segmentation") != "segmentation":
        return
    for cid in doc["plan"]["cells"]:
        if cid not in doc["cells"]:
            current.setdefault(f"cell:{cid}", Metric(None, cell=cid, reason=f"cell {cid} is not in these results (a partial shard?)"))


def _check_baseline(doc: Mapping[str, Any], baseline: Mapping[str, Any]) -> None:
    for field_name in ("fingerprint", "n_samples", "classes"):
        if doc["dataset"][field_name] != baseline["dataset"][field_name]:
            raise ResultsError(
                f"baseline: dataset.{field_name} differs ({baseline['dataset'][field_name]!r} vs {doc['dataset'][field_name]!r}); "
                "a baseline must be evaluated on the same data"
            )


def _floor(name: str, metric: Metric, limit: float) -> Check:
    if metric.value is None:
        return Check(name, ">=", limit, None, None, "fail", metric.reason or "unavailable")
    return Check(name, ">=", limit, metric.value, None, "pass" if metric.value >= limit else "fail")


def _drop(name: str, metric: Metric, base: Metric | None, limit: float, significant_only: bool,
          per_image: PerImage | None, baseline_per_image: PerImage | None, doc: Mapping[str, Any]) -> Check:
    rule = "drop <="
    if base is None or base.value is None:
        return Check(name, rule, limit, metric.value, None, "skip", "not in the baseline")
    if metric.value is None:
        return Check(name, rule, limit, None, base.value, "fail", metric.reason or "unavailable")
    drop = base.value - metric.value
    if drop <= limit:
        return Check(name, rule, limit, metric.value, base.value, "pass", f"drop {drop:+.2f}")
    if not significant_only:
        return Check(name, rule, limit, metric.value, base.value, "fail", f"drop {drop:.2f} > {limit:g}")
    significant, how = _significant(metric, base, limit, per_image, baseline_per_image, doc)
    status: Status = "fail" if significant else "pass"
    return Check(name, rule, limit, metric.value, base.value, status, f"drop {drop:.2f} > {limit:g}; {how}")


def _significant(metric: Metric, base: Metric, limit: float, per_image: PerImage | None,
                 baseline_per_image: PerImage | None, doc: Mapping[str, Any]) -> tuple[bool, str]:
    """Paired bootstrap on the same images when both sidecars hold the cell; else the CI of the
    current value must lie entirely below ``baseline - limit``; without any CI, the drop counts."""
    import numpy as np

    cell = metric.cell
    if cell and per_image is not None and baseline_per_image is not None and cell in per_image and cell in baseline_per_image \
            and np.array_equal(per_image["sample_index"], baseline_per_image["sample_index"]):
        from harness.metrics.stats import paired_bootstrap_segmentation

        n_boot = doc["config"]["bootstrap"] or 1000
        ci = paired_bootstrap_segmentation(baseline_per_image[cell], per_image[cell], n_boot=n_boot, seed=doc["config"]["seed"])
        return ci.low > limit, f"paired bootstrap CI of the drop [{ci.low:.2f}, {ci.high:.2f}]"
    if metric.ci is not None:
        return metric.ci[1] < (base.value or 0.0) - limit, f"CI of the value [{metric.ci[0]:.2f}, {metric.ci[1]:.2f}]"
    return True, "no CI available: counted as significant"


def render_table(report: GateReport) -> str:
    """A fixed-width table for the terminal / CI log, failures first."""
    order = {"fail": 0, "skip": 1, "pass": 2}
    rows = [("status", "metric", "value", "baseline", "rule", "detail")]
    for c in sorted(report.checks, key=lambda c: order[c.status]):
        value = str(int(c.value)) if c.metric == "failed_cells" and c.value is not None else _num(c.value)
        rows.append((c.status.upper() if c.status == "fail" else c.status, c.metric, value, _num(c.baseline),
                     f"{c.rule} {c.limit:g}" if c.limit is not None else c.rule, c.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows]
    verdict = "PASS" if report.passed else f"FAIL ({sum(c.status == 'fail' for c in report.checks)} check(s) failed)"
    return "\n".join(lines + [f"gate: {verdict}"])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def junit_cases(report: GateReport) -> list[Any]:
    from harness.report.junit import Case

    return [Case(c.metric, "mmharness.gate", c.status, f"{c.rule} {c.limit} value={_num(c.value)} baseline={_num(c.baseline)} {c.detail}".strip()) for c in report.checks]
