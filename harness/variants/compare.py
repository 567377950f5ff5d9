"""``mmharness run --compare``: the same sweep on several backends/precisions, and what changed.

Is the INT8 build as robust as the FP32 model? The reference sweep runs as usual
(``--backend``, graph ``model``); each candidate (``int8``, ``fp16``, ``trt``, ``trt@int8``…)
runs the *same* cells on the *same* samples with the *same* seeds through the runner
(``run_sweep``), into ``OUT/compare/<label>/results.json`` — a complete results file that
``mmharness report`` renders and ``mmharness gate`` judges with the reference as
``--baseline`` (``max_drop: {"cell:emm/missing=depth": 2.0}`` fails a candidate that loses
more than 2 mIoU points under missing depth; ``significant_only`` uses the paired bootstrap).

``OUT/compare.json`` adds, per candidate: every gateable metric of both runs and the delta
(``harness.report.flat`` names: ``emm.e@0.1``…), per cell the mIoU delta with a paired
bootstrap CI over images (same draws for both runs, ``harness.metrics.stats``), and output
parity against the reference under that cell's corruption (Polygraphy semantics plus cosine
and class-map agreement, ``harness.metrics.parity``), computed by feeding the identical
perturbed batches to both sessions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError, ResultsError
from harness.manifest.model import DEFAULT_GRAPH, Manifest
from harness.metrics.parity import ParityState, Tolerance
from harness.report.view import Table
from harness.variants.registry import variant_role

COMPARE_NAME = "compare.json"
COMPARE_MD = "compare.md"
COMPARE_DIR = "compare"
FORMAT = "mmharness-compare"
SCHEMA_VERSION = 1
PRECISION_ALIASES = {"fp32": DEFAULT_GRAPH}
# parity tolerances for reduced-precision builds: Polygraphy's 1e-5 defaults are for FP32
# twins; an INT8/FP16 build is judged by its statistics, with the elementwise count reported
DEFAULT_TOLERANCE = Tolerance(atol=1e-2, rtol=1e-2, check="elemwise")


@dataclass(frozen=True)
class Candidate:
    """One ``--compare`` token resolved: which backend runs which manifest graph role."""

    label: str
    backend: str
    role: str

    @property
    def slug(self) -> str:
        """Folder name under ``OUT/compare`` (``trt@int8`` -> ``trt_int8``)."""
        return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in self.label)


def parse_candidate(token: str, reference_backend: str, backend_names: Sequence[str]) -> Candidate:
    """``VARIANT`` (graph ``model.VARIANT`` on the reference backend), ``BACKEND`` (graph
    ``model`` on that backend) or ``BACKEND@VARIANT``; ``fp32`` names the ``model`` graph."""
    text = token.strip()
    if not text:
        raise ConfigError("--compare: empty candidate; expected e.g. int8, fp16, trt or trt@int8")
    backend, sep, variant = text.partition("@")
    if not sep:
        backend, variant = (text, "") if text in backend_names else (reference_backend, text)
    if backend not in backend_names:
        import difflib

        close = difflib.get_close_matches(backend, backend_names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--compare {token}: unknown backend {backend!r}{hint} (backends: {', '.join(backend_names)})")
    role = PRECISION_ALIASES.get(variant, variant_role(DEFAULT_GRAPH, variant)) if variant else DEFAULT_GRAPH
    return Candidate(label=text, backend=backend, role=role)


def parse_candidates(tokens: Sequence[str], reference_backend: str) -> tuple[Candidate, ...]:
    """Resolve every token (comma lists allowed); a candidate equal to the reference is refused."""
    from harness.backends.select import BACKENDS

    names = BACKENDS.names()
    out: list[Candidate] = []
    for token in (t for group in tokens for t in group.split(",") if t.strip()):
        cand = parse_candidate(token, reference_backend, names)
        if (cand.backend, cand.role) == (reference_backend, DEFAULT_GRAPH):
            raise ConfigError(f"--compare {token}: that is the reference itself (--backend {reference_backend}, graph model)")
        if any(c.slug == cand.slug for c in out):
            raise ConfigError(f"--compare {token}: given twice")
        out.append(cand)
    if not out:
        raise ConfigError("--compare: no candidate given; expected e.g. --compare int8 --compare fp16")
    return tuple(out)


def tolerance_from_flags(atol: float | None, rtol: float | None, check: str | None) -> Tolerance:
    """``--parity-atol/--parity-rtol/--parity-check`` (Polygraphy's ``--atol/--rtol/--check-error-stat``)
    over :data:`DEFAULT_TOLERANCE`; an unknown check names the valid ones."""
    from harness.metrics.parity import CHECK_STATS

    if check is not None and check not in CHECK_STATS:
        import difflib

        close = difflib.get_close_matches(check, CHECK_STATS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--parity-check {check!r} is not one of {', '.join(CHECK_STATS)}{hint}")
    for flag, value in (("--parity-atol", atol), ("--parity-rtol", rtol)):
        if value is not None and not value >= 0:
            raise ConfigError(f"{flag} {value}: expected a tolerance >= 0 (e.g. 1e-2)")
    base = DEFAULT_TOLERANCE
    return Tolerance(atol=base.atol if atol is None else float(atol), rtol=base.rtol if rtol is None else float(rtol),
                     check=base.check if check is None else check)  # type: ignore[arg-type]


def candidate_backend(manifest: Manifest, cand: Candidate, options: Sequence[str] = ()) -> Any:
    """The backend recipe for a candidate; a variant missing from the manifest is a
    ``ManifestError`` that says how to build it."""
    from harness.backends.select import backend_for, graph_file_for, parse_backend
    from harness.errors import ManifestError

    request = parse_backend(cand.backend, options)
    try:
        graph_file_for(manifest, request, cand.role)
    except ManifestError as error:
        precision = cand.role.rpartition(".")[2] if cand.role != DEFAULT_GRAPH else "fp32"
        target = "trt" if request.needs_engine else "ort"
        raise ManifestError(f"{error}; for --compare {cand.label} run: mmharness build {manifest.model_dir} "
                            f"--precision {precision} --target {target}") from None
    return backend_for(manifest, request, cand.role)


# ---- deltas from two results files ----------------------------------------------------------


def metric_deltas(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Every gateable metric (``harness.report.flat`` names) of both runs and candidate − reference."""
    from harness.report.flat import flatten

    ref, cand = flatten(reference), flatten(candidate)
    out: dict[str, dict[str, float | None]] = {}
    for name, metric in ref.items():
        if name.startswith("cell:") or name not in cand:
            continue
        a, b = metric.value, cand[name].value
        out[name] = {"reference": a, "candidate": b, "delta": None if a is None or b is None else b - a}
    return out


def cell_deltas(
    reference: Mapping[str, Any],
    candidate: Mapping[str, Any],
    ref_images: Mapping[str, npt.NDArray[np.int64]] | None,
    cand_images: Mapping[str, npt.NDArray[np.int64]] | None,
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """Per cell: reference and candidate mIoU (percent), delta = candidate − reference, and its
    paired percentile-bootstrap CI over images when both runs kept per-image matrices of the
    same samples (``significant``: the CI excludes 0)."""
    from harness.metrics.stats import paired_bootstrap_segmentation
    from harness.report.results import headline

    same_images = (
        ref_images is not None and cand_images is not None
        and np.array_equal(ref_images["sample_index"], cand_images["sample_index"])
    )
    out: dict[str, dict[str, Any]] = {}
    for cid, entry in reference["cells"].items():
        other = candidate["cells"].get(cid)
        if entry.get("kind") != "confusion" or other is None:
            continue
        a, b = headline(entry), headline(other)
        row: dict[str, Any] = {"reference": a, "candidate": b, "delta": None if a is None or b is None else b - a}
        if a is None or b is None:
            row["reason"] = entry.get("reason") if a is None else other.get("reason")
        elif same_images and n_boot > 0 and cid in ref_images and cid in cand_images:  # type: ignore[operator]
            ci = paired_bootstrap_segmentation(cand_images[cid], ref_images[cid], n_boot=n_boot, level=level, seed=seed)  # type: ignore[index]
            row["delta_ci"] = [ci.low, ci.high]
            row["significant"] = ci.excludes(0.0)
        out[cid] = row
    return out


# ---- output parity under each cell's perturbation --------------------------------------------


def _chunks(n: int, size: int) -> list[npt.NDArray[np.int64]]:
    return [np.arange(start, min(start + size, n), dtype=np.int64) for start in range(0, n, size)]


def parity_pass(
    manifest: Manifest,
    clean: Any,
    cells: Sequence[Any],
    reference: Any,
    candidate: Any,
    *,
    batch: int,
    seed: int,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> dict[str, dict[str, Any]]:
    """Feed the identical perturbed batches of every cell to both backends and measure the
    candidate's output against the reference's (per cell id: the ``ParityState`` summary plus
    its mergeable ``state``, so the cells of shards by samples add up).

    ``clean`` is the runner's ``CleanInputs``, or a callable that returns them given the
    reference session's ``Batching`` (the sample range of a shard by samples is known only
    once the graph's batch is); each side gets feeds built for its own input
    specs (dtypes) by the runner's ``FeedBuilder`` with the same seed, so the perturbations
    are the same draws. Graphs with a fixed batch get their tail padded, as the runner does.
    """
    from harness.runner.execute import Batching
    from harness.runner.feeds import FeedBuilder, pad_rows
    from harness.runner.sweep import batching_for, logits_output

    output = logits_output(manifest)
    class_axis = None if output.role == "class_map" else (1 if output.layout == "NCHW" else 3)
    results: dict[str, dict[str, Any]] = {}
    with reference.open() as ref_session, candidate.open() as cand_session:
        batchings: list[Batching] = [batching_for(manifest, s, batch) for s in (ref_session, cand_session)]
        if callable(clean):
            clean = clean(batchings[0])
        sides = [(s, FeedBuilder(manifest, clean, s.inputs, seed), b) for s, b in zip((ref_session, cand_session), batchings)]
        step = min(b.size for _, _, b in sides)
        for cell in cells:
            state = ParityState(tolerance, class_axis=class_axis)
            agree = [0, 0]
            for rows in _chunks(len(clean), step):
                outs = []
                for session, builder, batching in sides:
                    feeds = builder.feeds(cell, rows)
                    if batching.fixed:
                        feeds = pad_rows(feeds, len(rows), batching.size)
                    outs.append(np.asarray(session.run(feeds)[output.name])[: len(rows)])
                ref_out, cand_out = outs
                if class_axis is None:  # class maps: only agreement is meaningful
                    agree[0] += int(np.count_nonzero(ref_out == cand_out))
                    agree[1] += int(ref_out.size)
                state.update(cand_out, ref_out)
            summary = state.summary()
            if class_axis is None:
                summary["class_agreement"] = agree[0] / agree[1] if agree[1] else None
                summary["class_counts"] = agree
            summary["state"] = state.to_dict()
            results[cell.id] = summary
    return results


def _same_samples(reference: Mapping[str, Any], candidate: Mapping[str, Any], label: str) -> None:
    """A candidate whose graph fixes another batch size covers other images in a shard by
    samples; its deltas would compare different images, so that is refused with the fix."""
    ref, cand = reference["provenance"].get("samples"), candidate["provenance"].get("samples")
    if ref != cand:
        raise ConfigError(f"--compare {label}: its sweep covered samples {cand} but the reference covered {ref} "
                          "(a fixed graph batch differs from --batch under --shard-by samples); "
                          "pass --batch equal to the candidate's fixed batch")


def merge_parity(shards: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per candidate and cell, the parity of the union of several shards' ``compare.json``
    (``--shard-by samples``: each holds its block of images): the stored ``ParityState`` objects add
    (counts, sums, maxima exact; median/quantiles from the merged histograms), so the figures
    equal the unsharded run's up to float summation order."""
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    states: dict[tuple[str, str], tuple[ParityState, list[int] | None]] = {}
    for doc in shards:
        for label, entry in doc["candidates"].items():
            for cid, row in entry["cells"].items():
                par = row.get("parity")
                if not par:
                    continue
                state = ParityState.from_dict(par["state"])
                counts = par.get("class_counts")
                if (label, cid) in states:
                    prev, prev_counts = states[(label, cid)]
                    state = prev + state
                    counts = None if counts is None or prev_counts is None else [prev_counts[0] + counts[0], prev_counts[1] + counts[1]]
                states[(label, cid)] = (state, counts)
    for (label, cid), (state, counts) in states.items():
        summary = state.summary()
        if counts is not None:
            summary["class_agreement"] = counts[0] / counts[1] if counts[1] else None
        merged.setdefault(label, {})[cid] = summary
    return merged


# ---- the sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareResult:
    path: Path
    doc: dict[str, Any]
    reference: Any  # SweepResult
    candidates: Mapping[str, Any]  # label -> SweepResult


def run_compare(
    config: Any,
    candidates: Sequence[Candidate],
    *,
    backend_options: Sequence[str] | None = None,
    parity: bool = True,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    progress: Any = None,
) -> CompareResult:
    """Run the reference sweep of ``config`` (a ``RunConfig``) and every candidate's, then write
    ``compare.json`` beside the reference results. Every candidate is resolved before any
    sweep starts, so a missing variant fails in the first second. ``backend_options`` (default:
    the config's ``--backend-opt``) apply to every backend."""
    from harness.manifest import load_manifest
    from harness.report.io import write_json
    from harness.report.results import load_results
    from harness.runner import run_sweep

    manifest = load_manifest(config.model_dir)
    if backend_options is None:
        backend_options = tuple(getattr(config, "backend_options", ()))
    reference_cand = Candidate(label=config.backend, backend=config.backend, role=DEFAULT_GRAPH)
    ref_backend = candidate_backend(manifest, reference_cand, backend_options)
    backends = {c.label: candidate_backend(manifest, c, backend_options) for c in candidates}

    # the parity pass re-opens the reference sweep's clean cache (when it went to disk) instead
    # of preprocessing the split again, and removes it at the end unless it is to be kept
    ref_run = run_sweep(dataclasses.replace(config, keep_clean_cache=True) if parity else config,
                        backend=ref_backend, progress=progress)
    ref_doc, ref_images = load_results(ref_run.path)
    out_dir = Path(config.out)
    doc = _compare_header(config, manifest, ref_run.path, out_dir, tolerance if parity else None)
    runs: dict[str, Any] = {}
    clean: Any = None
    cells: Any = None
    cache = None
    if parity:
        clean, cells, cache = _parity_inputs(config, manifest, out_dir, doc)
    try:
        for cand in candidates:
            sub = dataclasses.replace(config, out=out_dir / COMPARE_DIR / cand.slug, backend=f"{cand.backend}@{cand.role}")
            run = run_sweep(sub, backend=backends[cand.label], progress=progress)
            runs[cand.label] = run
            cand_doc, cand_images = load_results(run.path)
            _same_samples(ref_doc, cand_doc, cand.label)
            entry = _candidate_entry(config, manifest, cand, run.path, out_dir,
                                     (ref_doc, ref_images), (cand_doc, cand_images))
            if parity:
                per_cell = parity_pass(manifest, clean, cells, ref_backend, backends[cand.label],
                                       batch=config.batch, seed=config.seed, tolerance=tolerance)
                for cid, figures in per_cell.items():
                    entry["cells"].setdefault(cid, {})["parity"] = figures
                entry["parity_summary"] = _parity_summary(per_cell)
            doc["candidates"][cand.label] = entry
    finally:
        if cache is not None and not config.keep_clean_cache:
            cache.remove()
    path = out_dir / COMPARE_NAME
    write_json(path, doc)
    (out_dir / COMPARE_MD).write_text(render_markdown(doc), encoding="utf-8")
    return CompareResult(path=path, doc=doc, reference=ref_run, candidates=runs)


def _compare_header(config: Any, manifest: Manifest, ref_path: Path, out_dir: Path,
                    tolerance: Tolerance | None) -> dict[str, Any]:
    """The ``compare.json`` skeleton: the reference, the parity tolerance (``None`` without the
    parity pass) and an empty ``candidates`` map the sweep fills in."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "reference": {"label": config.backend, "backend": config.backend, "graph": manifest.graphs[DEFAULT_GRAPH],
                      "results": str(Path(ref_path).relative_to(out_dir))},
        "parity_tolerance": dataclasses.asdict(tolerance) if tolerance is not None else None,
        "candidates": {},
        "gate_hint": "mmharness gate OUT/compare/<label>/results.json --baseline OUT/results.json "
                     "--thresholds T.yaml  (max_drop: {\"cell:emm/missing=depth\": 2.0}; significant_only: true)",
    }


def _parity_inputs(config: Any, manifest: Manifest, out_dir: Path, doc: dict[str, Any]) -> tuple[Any, Any, Any]:
    """What the parity pass feeds: a lazy loader of the reference sweep's clean inputs (it
    records the sample range in ``doc["samples"]`` on first use), the shard's cells, and the
    reference's clean cache (removed by the caller at the end)."""
    from harness.runner.clean_cache import DiskCache
    from harness.runner.config import config_hash
    from harness.runner.feeds import load_clean
    from harness.runner.sweep import run_dataset, run_header, shard_samples
    from harness.scenarios.plan import build_plan, select_shard

    dataset = run_dataset(config, manifest)  # as the reference sweep read it: same header hash, same clean cache
    cache = DiskCache.of(out_dir, config_hash(run_header(config, manifest, dataset)))
    cells = select_shard(build_plan(manifest.modality_names, config.plan), config.shard)
    loaded: list[Any] = []

    def load_once(batching: Any) -> Any:
        """The reference sweep's clean inputs: same cache mode, same shard sample range."""
        if not loaded:
            start, stop = shard_samples(config, batching, len(dataset))
            loaded.append(load_clean(manifest, dataset, stop, start=start, mode=config.clean_cache, cache=cache,
                                     evaluation=config.evaluation))
            doc["samples"] = {"start": start, "stop": stop, "shard": config.shard.to_dict()}
        return loaded[0]

    return load_once, cells, cache


def _candidate_entry(config: Any, manifest: Manifest, cand: Candidate, run_path: Path, out_dir: Path,
                     ref: tuple[Any, Any], other: tuple[Any, Any]) -> dict[str, Any]:
    """One candidate's ``compare.json`` entry before parity: what ran, and the metric and
    per-cell deltas against the reference (``ref``/``other``: ``load_results`` pairs)."""
    (ref_doc, ref_images), (cand_doc, cand_images) = ref, other
    return {
        "backend": cand.backend,
        "graph": manifest.graphs.get(cand.role + (".engine" if cand.backend == "trt" else ""), manifest.graphs.get(cand.role)),
        "role": cand.role,
        "results": str(Path(run_path).relative_to(out_dir)),
        "metrics": metric_deltas(ref_doc, cand_doc),
        "cells": cell_deltas(ref_doc, cand_doc, ref_images, cand_images, n_boot=config.bootstrap, seed=config.seed),
    }


def _parity_summary(per_cell: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Worst cell by cosine and by class agreement, and how many cells pass the tolerance."""
    if not per_cell:
        return {"cells": 0}
    def worst(key: str) -> tuple[str, Any]:
        scored = [(cid, float(f[key])) for cid, f in per_cell.items() if f.get(key) is not None]
        return min(scored, key=lambda item: item[1]) if scored else ("", None)

    cos_cell, cos = worst("cosine")
    agree_cell, agree = worst("class_agreement")
    return {
        "cells": len(per_cell),
        "passed": sum(1 for f in per_cell.values() if f["passed"]),
        "worst_cosine": {"cell": cos_cell, "value": cos},
        "worst_class_agreement": {"cell": agree_cell, "value": agree},
    }


def summary_lines(doc: Mapping[str, Any], metrics: Sequence[str] = ("clean", "emm.avg", "emm.e@0.1")) -> list[str]:
    """A few human lines per candidate (stderr chatter of ``mmharness run --compare``)."""
    lines = []
    for label, entry in doc["candidates"].items():
        parts = []
        for name in metrics:
            row = entry["metrics"].get(name)
            if row and row["delta"] is not None:
                parts.append(f"{name} {row['candidate']:.2f} ({row['delta']:+.2f})")
        worst = min(((cid, c["delta"]) for cid, c in entry["cells"].items() if c.get("delta") is not None),
                    key=lambda item: item[1], default=None)
        if worst is not None:
            parts.append(f"worst cell {worst[0]} {worst[1]:+.2f}")
        ps = entry.get("parity_summary")
        if ps and ps.get("cells"):
            tol = doc.get("parity_tolerance") or {}
            within = f"within {tol['check']} atol={tol['atol']:g} rtol={tol['rtol']:g}" if tol else "within tolerance"
            parts.append(f"parity {ps['passed']}/{ps['cells']} cells {within}, "
                         f"min class agreement {ps['worst_class_agreement']['value']:.4f}")
        lines.append(f"compare {label} vs {doc['reference']['label']}: " + "; ".join(parts))
    return lines


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


HEADLINE_METRICS: tuple[str, ...] = ("clean", "emm.avg", "emm.e@0.2", "emm.e@0.1", "emm.e@0.05")


def compare_tables(doc: Mapping[str, Any], metrics: Sequence[str] = HEADLINE_METRICS) -> list[Table]:
    """Per candidate: headline metric deltas, then per cell the mIoU delta with its paired 95 %
    CI and parity under the cell's perturbation. The one rendering of ``compare.json`` that
    ``compare.md`` and ``mmharness report`` (Markdown and HTML) share. A ``bias --compare``
    file (task vqa) gets its drift tables (``harness.variants.bias_compare``)."""
    if doc.get("task") == "vqa":
        from harness.variants.bias_compare import drift_tables

        return drift_tables(doc)
    tables = []
    tol = doc.get("parity_tolerance")
    note = (f"Parity: Polygraphy semantics, check={tol['check']}, atol={tol['atol']:g}, rtol={tol['rtol']:g}; "
            "* marks a delta whose paired bootstrap CI excludes 0.") if tol else ""
    for label, entry in doc["candidates"].items():
        title = f"`{label}` ({entry['backend']}, {entry['graph']})"
        headline = tuple((name, _fmt(row["reference"]), _fmt(row["candidate"]), _fmt(row["delta"], "+.2f"))
                         for name in metrics if (row := entry["metrics"].get(name)) is not None)
        tables.append(Table(title, ("metric", "reference", "candidate", "delta"), headline))
        tables.append(Table(f"{title}: per cell", ("cell", "reference", "candidate", "delta [95% CI]", "cosine", "class agreement", "parity"),
                            tuple(_cell_row(cid, row) for cid, row in entry["cells"].items()), note))
    return tables


def _cell_row(cid: str, row: Mapping[str, Any]) -> tuple[str, ...]:
    ci = row.get("delta_ci")
    delta = _fmt(row.get("delta"), "+.2f") + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "") + (" *" if row.get("significant") else "")
    par = row.get("parity") or {}
    status = "" if not par else ("pass" if par["passed"] else f"{par['mismatches']} / {par['numel']} outside tol")
    return (cid, _fmt(row.get("reference")), _fmt(row.get("candidate")), delta,
            _fmt(par.get("cosine"), ".6f"), _fmt(par.get("class_agreement"), ".4f"), status)


def compare_title(doc: Mapping[str, Any]) -> str:
    ref = doc["reference"]
    if doc.get("task") == "vqa":
        broken = ", ".join(f"`{label}`" for label in doc.get("vision_path_broken", [])) or "none"
        return f"Modality-bias drift against `{ref['label']}` ({ref['graph']}); vision path broken: {broken}"
    return f"Precision / backend comparison against `{ref['label']}` ({ref['graph']})"


def compare_beside(results: Path) -> dict[str, Any] | None:
    """The ``compare.json`` written by ``run --compare`` beside ``results`` (a results.json or its
    folder), or None when there is none; a foreign file there is refused, not rendered."""
    from harness.report.io import read_json

    folder = results if results.is_dir() else results.parent
    path = folder / COMPARE_NAME
    if not path.exists():
        return None
    doc = read_json(path, "compare results")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "candidates" not in doc:
        raise ResultsError(f"{path}: not a `run --compare` file (format {FORMAT!r}); move it away to report without it")
    return doc


def render_markdown(doc: Mapping[str, Any]) -> str:
    """``compare.md``, rendered from ``compare.json`` only."""
    from harness.report.markdown import markdown_table

    lines = [f"# {compare_title(doc)}", ""]
    for table in compare_tables(doc):
        lines += markdown_table(table)
    lines += [f"Gate a candidate: `{doc['gate_hint']}`", ""]
    return "\n".join(lines)
