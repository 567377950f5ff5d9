"""The gateable metric namespace of a results file: flat dotted names -> value (percent, or a
ratio for relative robustness), with the CI where one exists. Gate thresholds, the JUnit
report and baseline comparisons all use these names, so they are documented in one place:

    clean                        mIoU of the clean cell
    cell:<cell id>               mIoU of any cell, e.g. cell:emm/missing=depth
    emm.avg, emm.e@0.1           mIoU^Avg and mIoU^E(p) over the EMM table
    emm.shapley.<modality>       Shapley attribution of a modality (harness extension)
    rmm@0.5.avg, rmm@0.5.e@0.1   the same per RMM drop rate
    nm.liao.<level>              mIoU under Liao's NM preset
    nm.rr                        mean relative robustness over the NM suites (ratio)
    nm.rr.<modality>.<name>      relative robustness of one corruption (ratio)
    failed_cells                 number of cells that failed (NaN/Inf outputs, errors)
    bias.<figure>                bias runs (harness.mllm.report_view)
    bias.drift.<figure>          a bias run gated against a bias baseline: the variant's drift
    bias.drift.cell:<cell id>    (harness.variants.drift; added by ``harness.gate.evaluate``)
    bias.drift.vision_path_broken

A metric whose family is unavailable (missing or failed cells) maps to ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.scenarios.cells import CLEAN_ID


@dataclass(frozen=True)
class Metric:
    value: float | None
    ci: tuple[float, float] | None = None
    cell: str | None = None  # the cell behind a per-cell metric (for paired bootstrap)
    reason: str | None = None


def flatten(doc: Mapping[str, Any]) -> dict[str, Metric]:
    """Every gateable metric of ``doc`` in a stable order."""
    out: dict[str, Metric] = {}
    cells = doc["cells"]
    clean = cells.get(CLEAN_ID)
    out["clean"] = _cell_metric(CLEAN_ID, clean)
    for cid, entry in cells.items():
        if entry.get("kind") == "confusion":
            out[f"cell:{cid}"] = _cell_metric(cid, entry)
    aggregates = doc.get("aggregates", {})
    for family, prefix in _families(aggregates):
        block = aggregates[family]
        if not block.get("available"):
            reason = block.get("reason", "unavailable")
            for name in _names(family, prefix, None, doc):
                out[name] = Metric(None, reason=reason)
            continue
        values, ci = block["values"], block.get("ci") or {}
        for name, (value, interval) in _family_values(family, prefix, values, ci).items():
            out[name] = Metric(value, interval)
    if "bias" in aggregates:  # MLLM probe cells (issue 8); names documented in harness.mllm.report_view
        from harness.mllm.report_view import bias_metrics

        out.update(bias_metrics(doc))
    out["failed_cells"] = Metric(float(sum(1 for e in cells.values() if e["status"] == "failed")))
    return out


def _cell_metric(cid: str, entry: Mapping[str, Any] | None) -> Metric:
    if entry is None:
        return Metric(None, cell=cid, reason=f"cell {cid} is not in these results")
    if entry["status"] != "ok":
        return Metric(None, cell=cid, reason=f"cell {cid} {entry['status']}: {entry.get('reason')}")
    figures = entry["figures"]
    ci = figures.get("miou_ci")
    return Metric(figures["miou"], tuple(ci) if ci else None, cell=cid)


def _families(aggregates: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key in aggregates:
        if key == "emm":
            out.append((key, "emm"))
        elif key.startswith("rmm/r="):
            out.append((key, "rmm@" + key.split("=", 1)[1]))
        elif key == "nm":
            out.append((key, "nm"))
    return out


def _names(family: str, prefix: str, values: Any, doc: Mapping[str, Any]) -> list[str]:
    config = doc["config"]
    names = []
    if family == "nm":
        names += [f"nm.liao.{level}" for level in config["plan"]["nm_levels"]] + ["nm.rr"]
        return names
    names += [f"{prefix}.avg"] + [f"{prefix}.e@{p:g}" for p in config["expected_ps"]]
    if family == "emm":
        names += [f"emm.shapley.{m}" for m in doc["dataset"]["modalities"]]
    return names


def _family_values(family: str, prefix: str, values: Mapping[str, Any], ci: Mapping[str, Any]) -> dict[str, tuple[float | None, Any]]:
    def pair(value: Any, interval: Any) -> tuple[float | None, Any]:
        return (None if value is None else float(value), tuple(interval) if interval else None)

    out: dict[str, tuple[float | None, Any]] = {}
    if family == "nm":
        for level, item in values["liao"].items():
            out[f"nm.liao.{level}"] = pair(item["miou"], ci.get("liao", {}).get(level, {}).get("miou"))
        out["nm.rr"] = pair(values["mean_relative_robustness"], ci.get("mean_relative_robustness"))
        for modality, per in values["suites"].items():
            for name, item in per.items():
                ci_item = ci.get("suites", {}).get(modality, {}).get(name, {})
                out[f"nm.rr.{modality}.{name}"] = pair(item["relative_robustness"], ci_item.get("relative_robustness"))
        return out
    out[f"{prefix}.avg"] = pair(values["avg"], ci.get("avg"))
    for p, v in values["expected"].items():
        out[f"{prefix}.e@{p}"] = pair(v, ci.get("expected", {}).get(p))
    for m, v in values.get("shapley", {}).items():
        out[f"{prefix}.shapley.{m}"] = pair(v, ci.get("shapley", {}).get(m))
    return out
