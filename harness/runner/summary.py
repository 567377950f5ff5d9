"""The few lines ``mmharness run`` prints when it finishes: headline figures and what ran."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report.flat import flatten


def summary(doc: Mapping[str, Any], path: Path) -> str:
    metrics = flatten(doc)
    plan = doc["config"]["plan"]
    lines = [f"{doc['model']['name']} on {doc['config']['data']} ({doc['dataset']['n_samples']} samples, {doc['config']['backend']}):"]
    for name, metric in metrics.items():
        if name.startswith(("cell:", "nm.rr.")) or metric.value is None:
            continue
        ratio = name.startswith("nm.rr")  # a fraction: two decimals would hide its CI
        digits = 3 if ratio else 2
        ci = f"  [{metric.ci[0]:.{digits}f}, {metric.ci[1]:.{digits}f}]" if metric.ci else ""
        unit = "" if ratio or name.startswith("failed") else " mIoU"
        value = f"{metric.value:.0f}" if name == "failed_cells" else f"{metric.value:.{digits}f}"
        lines.append(f"  {name:<22} {value}{unit}{ci}")
    lines.append(f"ran {len(doc['cells'])} cells: " + "; ".join(_what_ran(plan)))
    lines.append(f"results: {path}   (report: mmharness report {path} --format html -o report.html)")
    return "\n".join(lines)


def _what_ran(plan: Mapping[str, Any]) -> list[str]:
    """One phrase per scenario that was planned, with its parameters."""
    parts = []
    if "emm" in plan["scenarios"]:
        parts.append("EMM (every missing set)")
    if "rmm" in plan["scenarios"]:
        parts.append(f"RMM rates {', '.join(f'{r:g}' for r in plan['rmm_rates'])} x {plan['rmm_seeds']} seed(s)")
    if "nm" in plan["scenarios"]:
        suite = "; ".join(f"{m}: {', '.join(n)}" for m, n in plan["nm_suite"].items()) or "none"
        parts.append(f"NM Liao {'/'.join(plan['nm_levels'])}, suite [{suite}] at severities {', '.join(map(str, plan['nm_severities']))}")
    return parts
