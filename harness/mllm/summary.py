"""Write a bias results document and render its summary (Markdown table, rendered from the doc only).

The document is validated by the shared results loader's schema and state checks before it is
written atomically, so ``mmharness report``/``gate``/``merge`` read it like any other run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS_NAME = "results.json"

_HEADLINES: tuple[tuple[str, str], ...] = (
    ("accuracy", "clean accuracy (%)"),
    ("accuracy_image_removed", "image-removed accuracy (%)"),
    ("multimodal_gain", "multi-modal gain MG (pp)"),
    ("vision_reliance", "vision reliance (MG / (clean - chance))"),
    ("perceptual_score", "perceptual score P_image (pp)"),
    ("perceptual_score_relative", "perceptual score, relative"),
    ("swap_sensitivity", "swap sensitivity"),
    ("blind_gap", "blind gap vs chance (pp)"),
    ("shapley_image_share", "Shapley share of the image"),
    ("multimodal_leakage", "multi-modal leakage ML (pp)"),
)


def write_results(out_dir: Path, doc: dict[str, Any]) -> Path:
    """Validate ``doc`` with the shared results checks and write ``out_dir/results.json`` atomically."""
    from harness.report.io import atomic_write, dumps
    from harness.report.results import validate_document

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_NAME
    validate_document(doc, path)
    _refuse_other_shard(path, doc)
    atomic_write(path, dumps(doc))
    return path


def _refuse_other_shard(path: Path, doc: Mapping[str, Any]) -> None:
    """Another shard of the same sweep in ``path`` is never overwritten (a rerun of the same
    shard, or a different sweep, replaces the file as usual)."""
    from harness.errors import ConfigError
    from harness.safeload import json_loads

    try:
        old = json_loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):  # not a results file: replaced as usual
        return
    shards = old.get("shards") if isinstance(old, dict) else None
    if not isinstance(shards, list) or not all(isinstance(s, dict) and {"index", "count"} <= set(s) for s in shards):
        return
    if old.get("config_hash") == doc["config_hash"] and shards != doc["shards"]:
        held = ", ".join(f"{s['index']}/{s['count']}" for s in old.get("shards", []))
        mine = ", ".join(f"{s['index']}/{s['count']}" for s in doc["shards"])
        raise ConfigError(f"{path}: holds shard {held} of this sweep; write shard {mine} to its own --out "
                          "and combine them with `mmharness merge`")


def _percent(value: Any) -> str:
    """An accuracy in percent, always one decimal (a 0 must not read as a ratio)."""
    return "n/a" if value is None else f"{value:.1f}%"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if abs(value) < 2 else f"{value:.1f}"


def render_summary(doc: Mapping[str, Any]) -> str:
    """Per-cell accuracies, then the bias figures with their CIs (Markdown)."""
    lines = [f"# modality bias: {doc['model']['name']} on {doc['dataset']['name']} ({doc['dataset']['n_samples']} items)", "",
             "| cell | accuracy (%) | per sample (ms) |", "|---|---:|---:|"]
    per_sample = doc.get("timing", {}).get("per_sample_ms", {})
    for cell_id, entry in doc["cells"].items():
        accuracy = _fmt(entry["figures"]["accuracy"]) if entry["status"] == "ok" else f"{entry['status']}: {entry['reason']}"
        lines.append(f"| {cell_id} | {accuracy} | {_fmt(per_sample.get(cell_id))} |")
    block = doc["aggregates"]["bias"]
    if not block.get("available"):
        return "\n".join([*lines, "", f"bias figures unavailable: {block['reason']}"])
    chance = "n/a (open-ended items)" if block["chance"] is None else f"{block['chance']:.1f}%"
    lines += ["", f"chance: {chance}", "", "| figure | value | 95% CI |", "|---|---:|---|"]
    cis = block.get("ci") or {}
    for key, label in _HEADLINES:
        if key not in block["values"]:
            continue
        ci = cis.get(key)
        interval = f"[{_fmt(ci['low'])}, {_fmt(ci['high'])}]" if ci else ""
        lines.append(f"| {label} | {_fmt(block['values'][key])} | {interval} |")
    for tag, accs in block.get("by_tag", {}).items():
        clean, removed = accs.get("bias/clean"), accs.get("bias/image=removed")
        lines.append(f"\nsubset '{tag}': clean {_percent(clean)}, image removed {_percent(removed)}")
    return "\n".join(lines)
