"""What reports and the gate read from a bias results document (never recomputed).

Gateable names (added to ``harness.report.flat``'s namespace when a ``bias`` block exists)::

    clean                      accuracy of bias/clean (percent)
    cell:<cell id>             accuracy of any probe cell, e.g. cell:bias/image=removed
    bias.<figure>              accuracy, multimodal_gain, vision_reliance, perceptual_score,
                               perceptual_score_relative, swap_sensitivity, blind_gap,
                               shapley_image_share, multimodal_leakage (units as in results)

Tables for Markdown/HTML: per-cell accuracy, the bias figures with CIs, the tag subsets, and
text bars of the vision-reliance view (MG, perceptual score, blind gap).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.mllm.summary import _HEADLINES

CLEAN_CELL = "bias/clean"


def bias_metrics(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``name -> harness.report.flat.Metric`` for the bias figures and every probe cell."""
    from harness.report.flat import Metric

    out: dict[str, Any] = {}
    for cid, entry in doc["cells"].items():
        if entry.get("kind") != "records":
            continue
        metric = Metric(entry["figures"]["accuracy"], cell=cid) if entry["status"] == "ok" else \
            Metric(None, cell=cid, reason=f"cell {cid} {entry['status']}: {entry.get('reason')}")
        out[f"cell:{cid}"] = metric
        if cid == CLEAN_CELL:
            out["clean"] = metric
    block = doc.get("aggregates", {}).get("bias", {})
    cis = block.get("ci") or {}
    for name, value in block.get("values", {}).items():
        ci = cis.get(name)
        interval = (ci["low"], ci["high"]) if ci and ci["low"] is not None and ci["high"] is not None else None
        out[f"bias.{name}"] = Metric(value, interval)
    return out


def bias_tables(doc: Mapping[str, Any]) -> list[Any]:
    """``harness.report.view.Table``s of a bias run (empty for other runs)."""
    from harness.report.view import Table

    block = doc.get("aggregates", {}).get("bias")
    if not block:
        return []
    per_sample = doc.get("timing", {}).get("per_sample_ms", {})
    if not block.get("available"):  # e.g. one shard of a sweep: its cells still show, with the reason
        note = f"bias figures unavailable: {block.get('reason')}"
    elif block["chance"] is None:
        note = "chance level: n/a (open-ended items)"
    else:
        note = f"chance level {block['chance']:.2f}% (uniform guessing over each item's options)"
    cells = Table(
        "Modality-bias probes: accuracy per cell",
        ("cell", "accuracy (%)", "ms / item"),
        tuple((cid, _num(e["figures"].get("accuracy")), _num(per_sample.get(cid)))
              for cid, e in doc["cells"].items() if e.get("kind") == "records" and e["status"] == "ok"),
        note,
    )
    if not block.get("available"):
        return [cells]
    cis = block.get("ci") or {}
    figures = Table(
        "Modality bias (definitions: docs/metrics.md)",
        ("figure", "value", "95% CI"),
        tuple((label, _num(block["values"][key]), _ci(cis.get(key)))
              for key, label in _HEADLINES if key in block["values"]),
        block["units"] + "; " + block.get("ci_method", ""),
    )
    tables = [cells, figures]
    tags = block.get("by_tag") or {}
    if tags:
        columns = tuple(tags)
        rows = tuple((cid, *(_num(tags[tag].get(cid)) for tag in columns)) for cid in doc["cells"])
        tables.append(Table("Accuracy by item subset (%)", ("cell", *columns), rows,
                            "'tempting': the image contradicts the language prior of the question"))
    return tables


def reliance_bars(doc: Mapping[str, Any]) -> dict[str, tuple[float, Any]]:
    """The vision-reliance view as bars: MG, perceptual score, blind gap (percent points)."""
    block = doc.get("aggregates", {}).get("bias")
    if not block or not block.get("available"):
        return {}
    cis = block.get("ci") or {}
    out = {}
    for key in ("multimodal_gain", "perceptual_score", "blind_gap"):
        value = block["values"].get(key)
        if value is not None:
            ci = cis.get(key)
            out[key] = (value, (ci["low"], ci["high"]) if ci and ci["low"] is not None else None)
    return out


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ci(ci: Any) -> str:
    return "—" if not ci or ci["low"] is None else f"[{ci['low']:.2f}, {ci['high']:.2f}]"
