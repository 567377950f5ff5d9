"""Parity of an exported ONNX graph against the torch model it came from.

An export is only trustworthy if the file computes what the model computes, on the inputs
that matter: random inputs, and — for multi-modal models — inputs where a modality is
missing (filled the way the manifest says), because that is exactly the regime the harness
then measures. Errors are reported the way Polygraphy does (max/mean absolute and relative
error per output, elementwise tolerance) using ``harness.metrics.parity``; any case that
fails raises ``ParityError`` naming the case, the output and the worst error.

Class maps (the ``--argmax`` export) are integers, so "close" cannot mean an elementwise
tolerance: they are compared with the arg-max of the reference *logits* instead
(:func:`class_map_parity`). A pixel may disagree only where the reference is a near tie (the
two logits are closer than the elementwise tolerance lets them move), and such pixels may make
up at most ``tie_fraction`` of the map; any other disagreement fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import BadInputError
from harness.metrics.argmax import class_argmax
from harness.metrics.parity import Tolerance, parity

Feed = Mapping[str, npt.NDArray[Any]]
DEFAULT_TIE_FRACTION = 1e-3  # class maps: at most 0.1% of pixels may flip, and only at near ties
# 20x the float32 noise of a correct CMNeXt-B2 export (4.8e-6 of max|ref|); a weight of the first
# layer moved by one std already gives 1.3e-2 on SegFormer-B2 (tests/exporters/test_large_export.py)
DEFAULT_REL_TO_MAX = 1e-4


class ParityError(BadInputError):
    """The exported graph does not reproduce the source model within tolerance."""


@dataclass(frozen=True)
class ParityCase:
    """One named set of inputs, e.g. ``random`` or ``missing=depth``."""

    name: str
    feed: Feed


@dataclass(frozen=True)
class ParityReport:
    """Per case, per output: the figures of ``harness.metrics.parity.parity`` (JSON-safe)."""

    tolerance: Tolerance
    cases: Mapping[str, Mapping[str, Mapping[str, Any]]]
    rel_to_max: float = 0.0
    tie_fraction: float | None = None

    @property
    def passed(self) -> bool:
        return all(out["passed"] for case in self.cases.values() for out in case.values())

    def summary(self) -> dict[str, Any]:
        """The compact form recorded in the manifest's ``parity`` block."""
        cases = {case: {output: _compact(f) for output, f in outputs.items()} for case, outputs in self.cases.items()}
        tol: dict[str, Any] = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol, "check": self.tolerance.check,
                               "rel_to_max": self.rel_to_max}
        if self.tie_fraction is not None:
            tol["tie_fraction"] = self.tie_fraction
        return {"reference": "torch (cpu, fp32)", "candidate": "onnxruntime CPUExecutionProvider",
                "tolerance": tol, "passed": self.passed, "cases": cases}

    def table(self) -> str:
        """Polygraphy-style lines: one per case and output."""
        lines = []
        for case, outputs in self.cases.items():
            for output, f in outputs.items():
                status = "PASSED" if f["passed"] else "FAILED"
                if "near_ties" in f:
                    figures = (f"class agreement {f['class_agreement']:.4%}, {f['near_ties']} near-tie and "
                               f"{f['mismatches']} other disagreements of {f['numel']} pixels")
                else:
                    figures = (f"max abs {f['abs']['max']:.3g} ({f['abs_to_ref_max']:.3g} of max|ref| {f['ref_max_abs']:.3g}), "
                               f"mean abs {f['abs']['mean']:.3g}, max rel {f['rel']['max']:.3g}")
                    if "classes" in f:
                        figures += f", class agreement {f['class_agreement']:.4%}"
                lines.append(f"{status} {case:<18} {output}: {figures}")
        return "\n".join(lines)


def _compact(figures: Mapping[str, Any]) -> dict[str, Any]:
    """One output's figures as recorded in the manifest."""
    out = {
        "max_abs": figures["abs"]["max"],
        "mean_abs": figures["abs"]["mean"],
        "max_rel": figures["rel"]["max"],
        "mean_rel": figures["rel"]["mean"],
        "mismatches": figures["mismatches"],
    }
    for key in ("ref_max_abs", "abs_to_ref_max", "atol_effective", "class_agreement", "near_ties", "tie_fraction", "numel"):
        if key in figures and (key != "numel" or "near_ties" in figures):
            out[key] = figures[key]
    if "classes" in figures:
        out["class_near_ties"] = figures["classes"]["near_ties"]
        out["class_mismatches"] = figures["classes"]["mismatches"]
    return out


def _max_mean(values: npt.NDArray[np.float64]) -> dict[str, float]:
    return {"max": float(values.max()), "mean": float(values.mean())} if values.size else {"max": 0.0, "mean": 0.0}


def class_map_parity(
    candidate: npt.ArrayLike,
    reference_logits: npt.ArrayLike,
    tolerance: Tolerance,
    tie_fraction: float = DEFAULT_TIE_FRACTION,
    class_axis: int = 1,
) -> dict[str, Any]:
    """An exported class map against the arg-max of the reference logits.

    A disagreeing pixel is a *near tie* when the reference logit of the class the candidate
    chose is within ``2 * (atol + rtol * |top logit|)`` of the top logit: two logits each off
    by the elementwise tolerance can close that gap, so either answer is within tolerance (the
    same idea as Polygraphy's tolerance on values, applied to the decision they feed). The
    map passes when no other pixel disagrees and near-tie disagreements make up at most
    ``tie_fraction`` of the pixels. ``abs``/``rel`` hold the reference-logit gap (top minus
    chosen; relative to ``|top|``) over the disagreeing pixels, 0 when all agree.
    """
    if not 0.0 <= tie_fraction <= 1.0:
        raise ValueError(f"tie_fraction must lie in [0, 1], got {tie_fraction}")
    logits = np.asarray(reference_logits, dtype=np.float64)
    chosen = np.asarray(candidate)
    expected = class_argmax(logits, axis=class_axis)
    if chosen.shape != expected.shape:
        raise ParityError(f"class map shape {chosen.shape} differs from the reference's {expected.shape} "
                          f"(logits {logits.shape} reduced over axis {class_axis})")
    classes = logits.shape[class_axis]
    scores = np.moveaxis(logits, class_axis, -1)
    top = np.take_along_axis(scores, expected[..., None], -1)[..., 0]
    in_range = (chosen >= 0) & (chosen < classes)
    picked = np.take_along_axis(scores, np.where(in_range, chosen, 0)[..., None].astype(np.intp), -1)[..., 0]
    gap = np.where(in_range, top - picked, np.inf)
    differ = chosen != expected
    near = differ & (gap <= 2.0 * (tolerance.atol + tolerance.rtol * np.abs(top)))
    hard = int(np.count_nonzero(differ & ~near))
    ties = int(np.count_nonzero(near))
    numel = int(expected.size)
    gaps = gap[differ]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = gaps / np.abs(top[differ])
    return {
        "passed": hard == 0 and ties <= tie_fraction * numel,
        "atol": tolerance.atol,
        "rtol": tolerance.rtol,
        "numel": numel,
        "mismatches": hard,
        "near_ties": ties,
        "tie_fraction": tie_fraction,
        "class_agreement": 1.0 - (hard + ties) / numel if numel else float("nan"),
        "abs": _max_mean(gaps),
        "rel": _max_mean(rel),
    }


def ort_session(path: Path) -> Callable[[Feed], dict[str, npt.NDArray[Any]]]:
    """A CPU ONNX Runtime session as a ``feed -> {output name: array}`` function."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(feed: Feed) -> dict[str, npt.NDArray[Any]]:
        return dict(zip(names, session.run(names, dict(feed))))

    return run


def scaled_tolerance(tolerance: Tolerance, reference: npt.ArrayLike, rel_to_max: float) -> tuple[Tolerance, float]:
    """``tolerance`` with its atol raised by ``rel_to_max * max|reference|`` (finite values); also max|ref|."""
    ref = np.asarray(reference, dtype=np.float64)
    finite = np.abs(ref[np.isfinite(ref)])
    top = float(finite.max()) if finite.size else 0.0
    return replace(tolerance, atol=tolerance.atol + rel_to_max * top), top


def _logits_parity(candidate: npt.NDArray[Any], reference: npt.NDArray[Any], tolerance: Tolerance, axis: int | None,
                   tie_fraction: float | None, name: str) -> dict[str, Any]:
    """Elementwise parity; with a class axis and ``tie_fraction`` also arg-max agreement outside near ties."""
    figures = parity(candidate, reference, tolerance, class_axis=axis, name=name)
    if axis is not None and tie_fraction is not None:
        classes = class_map_parity(class_argmax(np.asarray(candidate), axis=axis), reference, tolerance, tie_fraction, axis)
        figures["classes"] = {k: classes[k] for k in ("passed", "mismatches", "near_ties", "tie_fraction", "numel")}
        figures["passed"] = bool(figures["passed"] and classes["passed"])
    return figures


def compare(
    reference: Callable[[Feed], Mapping[str, npt.NDArray[Any]]],
    candidate: Callable[[Feed], Mapping[str, npt.NDArray[Any]]],
    cases: Sequence[ParityCase],
    tolerance: Tolerance,
    class_axis: Mapping[str, int] | None = None,
    class_maps: Mapping[str, float] | None = None,
    *,
    rel_to_max: float = 0.0,
    tie_fraction: float | None = None,
) -> ParityReport:
    """Run every case through both functions and compare each output of the reference.

    Per case and output the absolute tolerance is ``tolerance.atol + rel_to_max * max|ref|``.
    ``class_maps`` names outputs that the candidate gives as class maps while the reference
    gives the logits they come from (class axis 1), each with its allowed near-tie fraction.
    Outputs in ``class_axis`` with a ``tie_fraction`` must also agree in arg-max class except
    at near ties (at most that fraction of positions).
    """
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for case in cases:
        ref, cand = reference(case.feed), candidate(case.feed)
        results[case.name] = {}
        for name, expected in ref.items():
            if name not in cand:
                raise ParityError(f"parity case {case.name}: output {name!r} is missing from the export (has {sorted(cand)})")
            tol, top = scaled_tolerance(tolerance, expected, rel_to_max)
            if name in (class_maps or {}):
                figures = class_map_parity(cand[name], expected, tol, (class_maps or {})[name])
            else:
                figures = _logits_parity(cand[name], expected, tol, (class_axis or {}).get(name), tie_fraction, name)
            figures.update(ref_max_abs=top, atol_effective=tol.atol,
                           abs_to_ref_max=figures["abs"]["max"] / top if top > 0 else 0.0)
            results[case.name][name] = figures
    return ParityReport(tolerance=tolerance, cases=results, rel_to_max=rel_to_max,
                        tie_fraction=tie_fraction if class_maps is None else next(iter(class_maps.values()), tie_fraction))


def require_parity(report: ParityReport, what: str) -> None:
    """Raise ``ParityError`` on the first failing case/output, with its figures."""
    for case, outputs in report.cases.items():
        for output, f in outputs.items():
            if f["passed"]:
                continue
            where = f"{what}: parity FAILED on case {case!r}, output {output!r}"
            if "near_ties" in f:
                raise ParityError(
                    f"{where}: the class map differs from the arg-max "
                    f"of the torch logits at {f['mismatches']} clear pixels and {f['near_ties']} near ties of {f['numel']} "
                    f"(allowed: 0 clear, near ties <= {f['tie_fraction']:g} of pixels; largest logit gap "
                    f"{f['abs']['max']:.3g}); check the model, or raise --tie-fraction if near ties are expected"
                )
            allowed = (f"atol {f['atol_effective']:.3g} (= --atol {report.tolerance.atol:g} + --rel-to-max "
                       f"{report.rel_to_max:g} x max|ref| {f['ref_max_abs']:.3g}) and --rtol {report.tolerance.rtol:g}")
            if f["mismatches"] or f["nonfinite"]:
                nonfinite = f", {f['nonfinite']} non-finite" if f["nonfinite"] else ""
                raise ParityError(
                    f"{where}: max abs error {f['abs']['max']:.3g} ({f['abs_to_ref_max']:.3g} of max|ref|), max rel error "
                    f"{f['rel']['max']:.3g}, {f['mismatches']} of {f['numel']} elements beyond {allowed}{nonfinite}; the "
                    f"export does not compute what the model computes (check train/eval-mode ops and data-dependent "
                    f"branches the tracer fixed, or loosen --rel-to-max/--atol if expected)"
                )
            c = f["classes"]
            raise ParityError(
                f"{where}: the arg-max class differs from torch's at {c['mismatches']} clear pixels and {c['near_ties']} "
                f"near ties of {c['numel']} (allowed: 0 clear, near ties <= {c['tie_fraction']:g} of pixels) although every "
                f"logit is within {allowed}; check the model, or raise --tie-fraction if near ties are expected"
            )


def random_feed(specs: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, npt.NDArray[np.float32]]:
    """Standard-normal float32 inputs; each input its own stream so no two are equal."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in specs.items()}
