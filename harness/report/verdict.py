"""The top of a report: did the build pass, the few figures a deployment engineer reads first
(with CIs), and what ran. The gate verdict comes from ``mmharness gate --json`` output
(``report --gate gate.json``) or is evaluated here from a thresholds file (``--thresholds``);
it is never guessed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.report import view
from harness.scenarios.cells import CLEAN_ID

GATE_FORMAT = "mmharness.gate"


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    ci: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    source: str
    checks: int
    failed: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


def _ci(ci: Any) -> str:
    return f"95% CI [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "no CI"


def _figures(doc: Mapping[str, Any], cid: str) -> Mapping[str, Any]:
    entry = doc["cells"].get(cid) or {}
    return (entry.get("figures") or {}) if entry.get("status") == "ok" else {}


def _worst(doc: Mapping[str, Any], cells: Sequence[str]) -> tuple[str, float] | None:
    scored = [(cid, v) for cid in cells if (v := view.cell_miou(doc, cid)) is not None]
    return min(scored, key=lambda item: item[1]) if scored else None


def headlines(doc: Mapping[str, Any]) -> list[Headline]:
    """Clean, mIoU^Avg_EMM, the worst missing set, the worst corruption at the top severity."""
    if not view.has_segmentation_cells(doc):
        return _bias_headlines(doc)
    out = []
    clean = _figures(doc, CLEAN_ID)
    if clean:
        out.append(Headline("clean mIoU", f"{clean['miou']:.2f}", _ci(clean.get("miou_ci"))))
    emm = doc["aggregates"].get("emm") or {}
    if emm.get("available"):
        out.append(Headline("mIoU^Avg EMM", f"{emm['values']['avg']:.2f}", _ci((emm.get("ci") or {}).get("avg")),
                            "mean over every missing set"))
    missing = [cid for cid in doc["cells"] if cid.startswith("emm/missing=") and cid != CLEAN_ID]
    worst = _worst(doc, missing)
    if worst:
        cid, value = worst
        out.append(Headline("worst missing set", f"{value:.2f}", _ci(_figures(doc, cid).get("miou_ci")),
                            "missing " + cid.split("=", 1)[1].replace("+", " + ")))
    plan = doc["config"]["plan"]
    if plan.get("nm_suite"):
        top = max(plan["nm_severities"])
        cells = [f"nm/{m}/{name}/s{top}" for m, names in plan["nm_suite"].items() for name in names]
        worst = _worst(doc, cells)
        if worst:
            cid, value = worst
            _, modality, name, _ = cid.split("/")
            out.append(Headline(f"worst corruption at s{top}", f"{value:.2f}", _ci(_figures(doc, cid).get("miou_ci")),
                                f"{modality}: {name}"))
    return out


def _bias_headlines(doc: Mapping[str, Any]) -> list[Headline]:
    from harness.mllm.report_view import bias_metrics

    metrics = bias_metrics(doc)
    out = []
    for name, label in (("clean", "clean accuracy"), ("bias.multimodal_gain", "multimodal gain"),
                        ("bias.perceptual_score", "perceptual score"), ("bias.blind_gap", "blind gap")):
        metric = metrics.get(name)
        if metric is not None and metric.value is not None:
            out.append(Headline(label, f"{metric.value:.2f}", _ci(metric.ci)))
    probes = [cid for cid, e in doc["cells"].items() if e.get("kind") == "records" and e["status"] == "ok" and cid != "bias/clean"]
    if probes:
        cid = min(probes, key=lambda c: doc["cells"][c]["figures"]["accuracy"])
        out.append(Headline("worst probe", f"{doc['cells'][cid]['figures']['accuracy']:.2f}", "", cid.removeprefix("bias/")))
    return out


def precision(doc: Mapping[str, Any]) -> str:
    """The backend's own account, else the graph's variant (``model.int8.onnx``); the plain
    ``model`` graph is FP32 by the zoo's convention (``run --compare``: fp32 names it)."""
    backend = doc["provenance"].get("backend") or {}
    if backend.get("precision"):
        return str(backend["precision"])
    graph = str(backend.get("graph") or doc["model"].get("graph") or "")
    parts = Path(graph).name.split(".")
    return parts[1].upper() if len(parts) > 2 else (f"FP32 ({graph})" if graph else "not recorded")


def what_ran(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    config, prov = doc["config"], doc["provenance"]
    backend = prov.get("backend") or {}
    env = prov.get("environment") or {}
    gpus = (env.get("gpu") or {}).get("devices") or []
    device = backend.get("device") or "?"
    hardware = gpus[0].get("name", "") if gpus and isinstance(gpus[0], dict) else (env.get("cpu") or {}).get("model", "")
    samples = prov.get("samples") or {}
    span = f" ({samples['first']} … {samples['last']})" if samples.get("first") else ""
    return [
        ("model", f"{doc['model']['name']}"),
        ("backend", f"{config['backend']} ({backend.get('provider') or backend.get('runtime') or '?'})"),
        ("precision", precision(doc)),
        ("device", f"{device}{' — ' + hardware if hardware else ''}"),
        ("dataset", f"{config['data']} ({doc['dataset']['name']})"),
        ("samples", f"{doc['dataset']['n_samples']}{span}"),
        ("seed", str(config["seed"])),
        *([("evaluation", evaluation)] if (evaluation := view.evaluation_text(doc)) else []),
    ]


def gate_document(report: Any, results: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``mmharness gate --json``: the verdict and every check, tied to the results it judged."""
    return {
        "format": GATE_FORMAT,
        "version": 1,
        "passed": bool(report.passed),
        "thresholds": source,
        "config_hash": results.get("config_hash"),
        "model_hash": results["model"]["hash"],
        "checks": [{"metric": c.metric, "rule": c.rule, "limit": c.limit, "value": c.value, "baseline": c.baseline,
                    "status": c.status, "detail": c.detail} for c in report.checks],
    }


def _verdict(gate: Mapping[str, Any], source: str) -> Verdict:
    failed = tuple(c for c in gate["checks"] if c["status"] == "fail")
    return Verdict(not failed, source, len(gate["checks"]), failed)


def load_gate(path: Path, doc: Mapping[str, Any]) -> Verdict:
    """``report --gate FILE``: a ``gate --json`` file of these very results, or a one-line error."""
    from harness.report.io import read_json

    gate = read_json(Path(path), "gate result")
    if not isinstance(gate, dict) or gate.get("format") != GATE_FORMAT or not isinstance(gate.get("checks"), list) \
            or not all(isinstance(c, dict) and {"metric", "status"} <= set(c) for c in gate["checks"]):
        raise ConfigError(f"--gate {path}: not a gate result (expected the file `mmharness gate ... --json FILE` writes)")
    if gate.get("model_hash") != doc["model"]["hash"] or gate.get("config_hash") != doc.get("config_hash"):
        raise ConfigError(f"--gate {path}: judged other results (model or config hash differs); re-run `mmharness gate` on these")
    return _verdict(gate, f"{path} (thresholds: {gate.get('thresholds')})")


def evaluate_thresholds(results: Path, thresholds: Path, baseline: Path | None, doc: Mapping[str, Any]) -> Verdict:
    """``report --thresholds FILE [--baseline RESULTS]``: the gate evaluated now, as ``mmharness gate`` would."""
    from harness.gate import evaluate, load_thresholds
    from harness.report.results import load_results

    rules = load_thresholds(thresholds)
    _, per_image = load_results(results)
    base_doc, base_images = load_results(baseline) if baseline is not None else (None, None)
    report = evaluate(doc, rules, base_doc, per_image, base_images)
    return _verdict(gate_document(report, doc, str(thresholds)), str(thresholds))
