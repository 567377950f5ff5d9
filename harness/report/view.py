"""Tables a report shows, read (never recomputed) from a results document. Markdown and
HTML render the same view, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.scenarios.cells import CLEAN_ID, missing_label, missing_sets


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def ci_text(ci: Any) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "—"


def cell_miou(doc: Mapping[str, Any], cid: str) -> float | None:
    entry = doc["cells"].get(cid)
    if entry is None or entry["status"] != "ok":
        return None
    return entry["figures"]["miou"]


def cell_status(doc: Mapping[str, Any], cid: str) -> str:
    entry = doc["cells"].get(cid)
    return "not run" if entry is None else entry["status"]


def header(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    config, prov = doc["config"], doc["provenance"]
    backend = prov.get("backend", {})
    ran = sum(1 for e in doc["cells"].values() if e["status"] == "ok")
    rows = [
        ("model", f"{doc['model']['name']} ({doc['model']['hash'][:19]}…)"),
        ("data", f"{config['data']} — {doc['dataset']['n_samples']} samples, fingerprint {doc['dataset']['fingerprint']}"),
        ("modalities", ", ".join(doc["dataset"]["modalities"])),
        ("backend", f"{config['backend']} ({backend.get('provider', backend.get('backend', '?'))})"),
        ("seed / batch", f"{config['seed']} / {prov.get('batch', {}).get('size', config['batch'])}"),
        ("cells", f"{ran} ok of {len(doc['cells'])} in these results; plan has {len(doc['plan']['cells'])} ({'complete' if doc['plan']['complete'] else 'partial: a shard'})"),
    ]
    if has_segmentation_cells(doc):
        rows.append(("mIoU", "percent, DELIVER/Liao convention (one confusion matrix per cell; absent classes count as 0)"))
    evaluation = evaluation_text(doc)
    if evaluation:
        rows.append(("evaluation", evaluation))
    return rows


def _hw(size: Any) -> str:
    return f"{size[0]}x{size[1]}"


def evaluation_text(doc: Mapping[str, Any]) -> str | None:
    """One line on the resolution a sweep ran at: the resize, the model input, and where the
    labels were scored (``evaluation`` in results.json; absent in older results)."""
    ev = doc.get("evaluation")
    if not ev:
        return None
    resize = dict(ev["resize"])
    source = resize.pop("source", "")
    how = ", ".join(f"{k} {v}" for k, v in resize.items())
    frames = f"frames {_hw(ev['frame_size'])} -> " if "frame_size" in ev else ""
    fed = f"{frames}model input {_hw(ev['model_input'])} (resize {how}{'; ' + source if source else ''})"
    if ev["convention"] == "native":
        scored = f"native (mmsegmentation): logits resized bilinearly to the labels' on-disk {_hw(ev['label_size'])} and scored there"
    else:
        scored = f"model (DELIVER/Liao): labels resized (nearest) to {_hw(ev['label_size'])} and scored there"
    return f"{scored}; {fed}"


def has_segmentation_cells(doc: Mapping[str, Any]) -> bool:
    """True when any cell holds a confusion state (a ``bias`` run holds per-sample records only)."""
    return any(entry.get("kind") == "confusion" for entry in doc["cells"].values())


def failed_cells(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(cid, e.get("reason") or "") for cid, e in doc["cells"].items() if e["status"] != "ok"]


def emm_table(doc: Mapping[str, Any]) -> Table | None:
    if "emm" not in doc["config"]["plan"]["scenarios"]:
        return None
    modalities = doc["dataset"]["modalities"]
    clean = cell_miou(doc, CLEAN_ID)
    rows = []
    for missing in missing_sets(modalities):
        cid = CLEAN_ID if not missing else f"emm/missing={missing_label(missing)}"
        value = cell_miou(doc, cid)
        present = ", ".join(m for m in modalities if m not in missing)
        entry = doc["cells"].get(cid) or {}
        ci = (entry.get("figures") or {}).get("miou_ci")
        delta = f"{value - clean:+.2f}" if value is not None and clean is not None else "—"
        rows.append((missing_label(missing), present, pct(value) if value is not None else cell_status(doc, cid), ci_text(ci), delta))
    return Table(f"EMM: entire-missing modality ({len(rows)} = 2^{len(modalities)} − 1 missing sets)",
                 ("missing", "present", "mIoU", "95% CI", "Δ clean"), tuple(rows))


def aggregate_table(doc: Mapping[str, Any]) -> Table | None:
    """mIoU^Avg / mIoU^E rows of the EMM and RMM families; None when the run has neither."""
    agg = doc["aggregates"]
    keys = [k for k in agg if k == "emm" or k.startswith("rmm/")]
    if not keys:
        return None
    rows = []
    for key in keys:
        block = agg[key]
        family = "EMM" if key == "emm" else "RMM " + key.split("/", 1)[1]
        if not block.get("available"):
            rows.append((family, "unavailable", block.get("reason", ""), "", ""))
            continue
        values, ci, paper = block["values"], block.get("ci") or {}, block["paper_rounding"]
        rows.append((family, "mIoU^Avg", pct(values["avg"]), ci_text(ci.get("avg")), pct(paper["avg"])))
        for p, v in values["expected"].items():
            rows.append((family, f"mIoU^E(p={p})", pct(v), ci_text(ci.get("expected", {}).get(p)), pct(paper["expected"][p])))
    return Table("Aggregates", ("scenario", "figure", "value", "95% CI", "paper rounding"), tuple(rows),
                 "mIoU^E(p): each modality fails independently with probability p, at least one survives.")


def shapley(doc: Mapping[str, Any]) -> dict[str, tuple[float, Any]] | None:
    block = doc["aggregates"].get("emm")
    if not block or not block.get("available"):
        return None
    ci = (block.get("ci") or {}).get("shapley", {})
    return {m: (v, ci.get(m)) for m, v in block["values"]["shapley"].items()}


def rmm_table(doc: Mapping[str, Any]) -> Table | None:
    plan = doc["config"]["plan"]
    if "rmm" not in plan["scenarios"]:
        return None
    modalities = doc["dataset"]["modalities"]
    rates = plan["rmm_rates"]
    rows = []
    for missing in missing_sets(modalities)[1:]:
        label = missing_label(missing)
        row = [label]
        for rate in rates:
            values = [cell_miou(doc, f"rmm/r={rate:g}/missing={label}/seed={k}") for k in range(plan["rmm_seeds"])]
            ok = [v for v in values if v is not None]
            row.append(pct(sum(ok) / len(ok)) if len(ok) == len(values) else "—")
        rows.append(tuple(row))
    note = f"mean over {plan['rmm_seeds']} seed(s)" if plan["rmm_seeds"] > 1 else "one seed"
    return Table("RMM: random-missing modality (elements dropped with probability r)", ("missing",) + tuple(f"r={r:g}" for r in rates), tuple(rows), note)


def nm_tables(doc: Mapping[str, Any]) -> list[Table]:
    plan = doc["config"]["plan"]
    if "nm" not in plan["scenarios"]:
        return []
    clean = cell_miou(doc, CLEAN_ID)
    liao = []
    for level in plan["nm_levels"]:
        value = cell_miou(doc, f"nm/preset=liao/level={level}")
        ratio = f"{value / clean:.3f}" if value is not None and clean else "—"
        liao.append((level, pct(value), ratio))
    tables = [Table("NM: Liao preset (salt-and-pepper + Gaussian, normalized space)", ("level", "mIoU", "÷ clean"), tuple(liao),
                    "depends on batch size (the reference used 4): see provenance.batch")]
    block = doc["aggregates"].get("nm", {})
    rr = {}
    if block.get("available"):
        for modality, per in block["values"]["suites"].items():
            for name, item in per.items():
                rr[(modality, name)] = item["relative_robustness"]
    severities = plan["nm_severities"]
    rows = []
    for modality, names in plan["nm_suite"].items():
        for name in names:
            values = [cell_miou(doc, f"nm/{modality}/{name}/s{s}") for s in severities]
            rows.append((modality, name, *[pct(v) for v in values], f"{rr[(modality, name)]:.3f}" if rr.get((modality, name)) is not None else "—"))
    if rows:
        tables.append(Table("NM: per-sensor corruptions (raw sensor space)", ("modality", "corruption") + tuple(f"s{s}" for s in severities) + ("rel. robustness",), tuple(rows),
                            "relative robustness = mIoU(corrupted) / mIoU(clean), averaged over severities"))
    return tables


def severity_curves(doc: Mapping[str, Any]) -> dict[str, list[tuple[float, float | None]]]:
    plan = doc["config"]["plan"]
    if "nm" not in plan["scenarios"]:
        return {}
    return {
        f"{modality}/{name}": [(s, cell_miou(doc, f"nm/{modality}/{name}/s{s}")) for s in plan["nm_severities"]]
        for modality, names in plan["nm_suite"].items()
        for name in names
    }


def class_delta_table(doc: Mapping[str, Any]) -> Table | None:
    """Per-class IoU change (percent points) for single-modality EMM drops and Liao levels."""
    deltas = doc["aggregates"].get("per_class_delta")
    if not deltas:
        return None
    modalities = doc["dataset"]["modalities"]
    wanted = [f"emm/missing={m}" for m in modalities] + [f"nm/preset=liao/level={lv}" for lv in doc["config"]["plan"]["nm_levels"]]
    columns = [c for c in wanted if c in deltas]
    if not columns:
        return None
    rows = tuple((cls, *[f"{deltas[c][i]:+.2f}" for c in columns]) for i, cls in enumerate(doc["dataset"]["classes"]))
    short = tuple(c.replace("emm/missing=", "no ").replace("nm/preset=liao/level=", "liao ") for c in columns)
    return Table("Per-class IoU change vs clean (percent points)", ("class",) + short, rows)


def class_deltas_matrix(doc: Mapping[str, Any]) -> tuple[list[str], list[str], list[list[float]]] | None:
    table = class_delta_table(doc)
    if table is None:
        return None
    return [r[0] for r in table.rows], list(table.columns[1:]), [[float(v) for v in r[1:]] for r in table.rows]
