"""``mmharness bias --compare VARIANT``: the same probe cells on each variant and the reference.

The reference run writes ``OUT/results.json`` as a plain ``bias`` run does; each variant runs
the same cells, items and seeds with its graphs swapped in (``harness.variants.vlm``) into
``OUT/compare/<label>/results.json``. ``OUT/compare.json`` then holds per variant the drift
block (``harness.variants.drift``, from the two results files' records), the per-graph parity
records (``harness.variants.vlm_parity``) and the "vision path broken" verdict, listed by
name in ``vision_path_broken``; ``compare.md`` renders it. Gate a variant with
``mmharness gate OUT/compare/<label>/results.json --baseline OUT/results.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.report.view import Table

COMPARE_NAME = "compare.json"
COMPARE_MD = "compare.md"
COMPARE_DIR = "compare"
GATE_HINT = "mmharness gate OUT/compare/<label>/results.json --baseline OUT/results.json [--thresholds T.yaml]"


def run_bias_compare(config: Any, labels: Sequence[str], out: Path, progress: Callable[..., None] | None = None,
                     parity: bool = True) -> dict[str, Any]:
    """Run the reference and every variant of ``labels``; write results, compare.json and compare.md."""
    from harness.variants.compare import FORMAT, SCHEMA_VERSION
    from harness.data.vlmeval import write_predictions_beside
    from harness.data.vqa import open_vqa
    from harness.manifest import load_manifest
    from harness.mllm.bias import run_bias
    from harness.mllm.manifest import load_vqa_spec
    from harness.mllm.summary import write_results
    from harness.report.io import write_json
    from harness.variants.drift import drift_block
    from harness.variants.vlm import resolve_labels
    from harness.variants.vlm_parity import parity_pass

    manifest = load_manifest(config.model)
    candidates = resolve_labels(labels, manifest.graphs, str(config.model))  # a missing variant fails first
    reference = run_bias(config, progress)
    ref_path = write_results(out, reference)
    write_predictions_beside(out, reference)
    doc: dict[str, Any] = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "task": "vqa",
        "reference": {"label": "fp32", "graph": ", ".join(manifest.graphs[r] for r in ("vision", "embedding", "decoder")),
                      "results": ref_path.name},
        "candidates": {}, "vision_path_broken": [], "gate_hint": GATE_HINT,
    }
    spec = load_vqa_spec(config.model)
    data = open_vqa(config.data, size=config.limit, seed=config.seed, image_size=spec.image.size[0]) if parity else None
    if data is not None and config.limit and len(data) > config.limit:
        data = dataclasses.replace(data, items=data.items[: config.limit])
    for cand in candidates:
        variant = run_bias(dataclasses.replace(config, graphs=cand.graphs), progress)
        path = write_results(out / COMPARE_DIR / cand.slug, variant)
        write_predictions_beside(path.parent, variant)
        entry: dict[str, Any] = {
            "graphs": {role: manifest.graphs[key] for role, key in cand.graphs},
            "graph": ", ".join(manifest.graphs[key] for _, key in cand.graphs),
            "results": str(path.relative_to(out)),
            "drift": drift_block(reference, variant),
        }
        if data is not None:
            entry["parity"] = parity_pass(config.model, config.backend, config.backend_options, dict(cand.graphs), data)
        doc["candidates"][cand.label] = entry
        if entry["drift"]["verdict"]["vision_path_broken"]:
            doc["vision_path_broken"].append(cand.label)
    write_json(out / COMPARE_NAME, doc)
    (out / COMPARE_MD).write_text(render_markdown(doc), encoding="utf-8")
    return doc


# ---- rendering (compare.md, mmharness report, the terminal) ---------------------------------

FIGURE_LABELS: tuple[tuple[str, str], ...] = (
    ("accuracy", "clean accuracy (%)"), ("accuracy_image_removed", "image-removed accuracy (%)"),
    ("multimodal_gain", "multi-modal gain MG (pp)"), ("perceptual_score", "perceptual score (pp)"),
    ("perceptual_score_relative", "perceptual score, relative"), ("swap_sensitivity", "swap sensitivity"),
    ("vision_reliance", "vision reliance"), ("blind_gap", "blind gap (pp)"),
    ("shapley_image_share", "Shapley share of the image"), ("multimodal_leakage", "multi-modal leakage ML (pp)"),
)


def _num(value: Any, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _delta(row: Mapping[str, Any]) -> str:
    ci = row.get("delta_ci")
    text = _num(row.get("delta"), "+.3f") + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
    return text + (" *" if row.get("significant") else "")


def verdict_text(verdict: Mapping[str, Any]) -> str:
    state = {True: "VISION PATH BROKEN", False: "vision path intact", None: "undecided"}[verdict["vision_path_broken"]]
    return f"{state}: {verdict['reason']}"


def drift_tables(doc: Mapping[str, Any]) -> list[Table]:
    """The drift section: verdicts, then per variant the figure deltas, per-probe deltas and parity."""
    tables = [Table("Vision path per variant", ("variant", "graphs", "verdict"),
                    tuple((label, e["graph"], verdict_text(e["drift"]["verdict"])) for label, e in doc["candidates"].items()),
                    next(iter(doc["candidates"].values()))["drift"]["verdict"]["rule"] if doc["candidates"] else "")]
    for label, entry in doc["candidates"].items():
        drift = entry["drift"]
        note = f"{drift['units']}; {drift['ci_method']}; * marks a delta whose CI excludes 0"
        tables.append(Table(f"`{label}` vs reference: bias figures", ("figure", "reference", "candidate", "delta [95% CI]"),
                            tuple((name, _num(row["reference"], ".3f"), _num(row["candidate"], ".3f"), _delta(row))
                                  for key, name in FIGURE_LABELS if (row := drift["figures"].get(key))), note))
        tables.append(Table(f"`{label}` vs reference: accuracy per probe (%)",
                            ("probe", "reference", "candidate", "delta [95% CI]", "choice agreement"),
                            tuple((cid, _num(r["reference"]), _num(r["candidate"]), _delta(r), _num(r.get("choice_agreement"), ".3f"))
                                  for cid, r in drift["probes"].items())))
        if entry.get("parity"):
            tables.append(parity_table(label, entry["parity"]))
    return tables


def parity_table(label: str, parity: Mapping[str, Any]) -> Table:
    s = parity["summary"]
    rows = [(graph, _num(s[key]["mean"], ".6f"), _num(s[key]["min"], ".6f"))
            for graph, key in (("vision", "vision_cosine"), ("vision: feature norm ratio", "vision_norm_ratio"),
                               ("embedding", "embedding_cosine"), ("decoder (prefill logits)", "decoder_cosine"))]
    div = s["first_divergence"]
    note = (f"{s['items']} clean items; greedy tokens agree on {_num(s['greedy_agreement'], '.3f')} of them "
            f"({parity['greedy_tokens']} new tokens); first divergent token: earliest {_num(div['earliest'], 'd')}, "
            f"mean {_num(div['mean'], '.2f')} over {div['items']} divergent items")
    return Table(f"`{label}` parity per graph (same inputs on both sides)", ("graph", "mean", "min"),
                 tuple(rows), note)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """``compare.md``, rendered from ``compare.json`` only."""
    from harness.report.markdown import markdown_table

    lines = ["# Modality-bias drift against the FP32 reference", ""]
    broken = doc.get("vision_path_broken") or []
    lines += [f"Vision path broken: {', '.join(f'`{b}`' for b in broken)}" if broken else "Vision path broken: none", ""]
    for table in drift_tables(doc):
        lines += markdown_table(table)
    lines += [f"Gate a variant: `{doc['gate_hint']}`", ""]
    return "\n".join(lines)


def summary_lines(doc: Mapping[str, Any]) -> list[str]:
    """One line per variant for the terminal: headline deltas, parity, the verdict."""
    lines = []
    for label, entry in doc["candidates"].items():
        figures = entry["drift"]["figures"]
        parts = [f"{key} {_delta(figures[key])}" for key in ("accuracy", "multimodal_gain", "perceptual_score", "swap_sensitivity")
                 if key in figures]
        if entry.get("parity"):
            s = entry["parity"]["summary"]
            parts.append(f"vision cosine {_num(s['vision_cosine']['mean'], '.4f')}, greedy agreement {_num(s['greedy_agreement'], '.3f')}")
        lines.append(f"compare {label}: " + "; ".join(parts) + f"; {verdict_text(entry['drift']['verdict'])}")
    return lines


def drift_cases(doc: Mapping[str, Any]) -> list[Any]:
    """JUnit cases: per variant one for the vision-path verdict (fails when broken) and one per probe."""
    from harness.report.junit import Case

    cases = []
    for label, entry in doc["candidates"].items():
        verdict = entry["drift"]["verdict"]
        status = "fail" if verdict["vision_path_broken"] else "skip" if verdict["vision_path_broken"] is None else "pass"
        cases.append(Case(f"{label}/vision_path", "mmharness.bias.drift", status, verdict_text(verdict)))
        cases += [Case(f"{label}/{cid}", "mmharness.bias.drift", "pass" if row["delta"] is not None else "skip",
                       f"accuracy delta {_delta(row)} pp" if row["delta"] is not None else str(row.get("reason")))
                  for cid, row in entry["drift"]["probes"].items()]
    return cases


def junit_with_drift(results: Mapping[str, Any], compared: Mapping[str, Any] | None) -> str | None:
    """``mmharness report --format junit`` of a bias run with ``compare.json`` beside: one case per
    probe cell (its accuracy) and the drift cases; None for any other run."""
    from harness.report.junit import Case, render

    if compared is None or compared.get("task") != "vqa":
        return None
    status = {"ok": "pass", "failed": "error", "skipped": "skip"}
    cells = [Case(cid, "mmharness.bias", status[e["status"]],  # type: ignore[arg-type]
                  f"accuracy {e['figures']['accuracy']:.2f}%" if e["status"] == "ok" else str(e.get("reason")))
             for cid, e in results["cells"].items()]
    return render(f"mmharness bias {results['model']['name']}", [*cells, *drift_cases(compared)])
