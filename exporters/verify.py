"""Parity of an exported ONNX graph against the torch model it came from.

An export is only trustworthy if the file computes what the model computes, on the inputs
that matter: random inputs, and — for multi-modal models — inputs where a modality is
missing (filled the way the manifest says), because that is exactly the regime the harness
then measures. Errors are reported the way Polygraphy does (max/mean absolute and relative
error per output, elementwise tolerance) using ``harness.metrics.parity``; any case that
fails raises ``ParityError`` naming the case, the output and the worst error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import BadInputError
from harness.metrics.parity import Tolerance, parity

Feed = Mapping[str, npt.NDArray[Any]]


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

    @property
    def passed(self) -> bool:
        return all(out["passed"] for case in self.cases.values() for out in case.values())

    def summary(self) -> dict[str, Any]:
        """The compact form recorded in the manifest's ``parity`` block."""
        cases = {
            case: {
                output: {
                    "max_abs": figures["abs"]["max"],
                    "mean_abs": figures["abs"]["mean"],
                    "max_rel": figures["rel"]["max"],
                    "mean_rel": figures["rel"]["mean"],
                    "mismatches": figures["mismatches"],
                    **({"class_agreement": figures["class_agreement"]} if "class_agreement" in figures else {}),
                }
                for output, figures in outputs.items()
            }
            for case, outputs in self.cases.items()
        }
        tol = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol, "check": self.tolerance.check}
        return {"reference": "torch (cpu, fp32)", "candidate": "onnxruntime CPUExecutionProvider",
                "tolerance": tol, "passed": self.passed, "cases": cases}

    def table(self) -> str:
        """Polygraphy-style lines: one per case and output."""
        lines = []
        for case, outputs in self.cases.items():
            for output, f in outputs.items():
                status = "PASSED" if f["passed"] else "FAILED"
                lines.append(
                    f"{status} {case:<18} {output}: max abs {f['abs']['max']:.3g}, mean abs {f['abs']['mean']:.3g}, "
                    f"max rel {f['rel']['max']:.3g}, mean rel {f['rel']['mean']:.3g}"
                )
        return "\n".join(lines)


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


def compare(
    reference: Callable[[Feed], Mapping[str, npt.NDArray[Any]]],
    candidate: Callable[[Feed], Mapping[str, npt.NDArray[Any]]],
    cases: Sequence[ParityCase],
    tolerance: Tolerance,
    class_axis: Mapping[str, int] | None = None,
) -> ParityReport:
    """Run every case through both functions and compare each output of the reference."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for case in cases:
        ref, cand = reference(case.feed), candidate(case.feed)
        results[case.name] = {}
        for name, expected in ref.items():
            if name not in cand:
                raise ParityError(f"parity case {case.name}: output {name!r} is missing from the export (has {sorted(cand)})")
            axis = (class_axis or {}).get(name)
            results[case.name][name] = parity(cand[name], expected, tolerance, class_axis=axis, name=name)
    return ParityReport(tolerance=tolerance, cases=results)


def require_parity(report: ParityReport, what: str) -> None:
    """Raise ``ParityError`` on the first failing case/output, with its figures."""
    for case, outputs in report.cases.items():
        for output, f in outputs.items():
            if not f["passed"]:
                raise ParityError(
                    f"{what}: parity FAILED on case {case!r}, output {output!r}: max abs error {f['abs']['max']:.3g}, "
                    f"max rel error {f['rel']['max']:.3g}, {f['mismatches']} of {f['numel']} elements beyond "
                    f"atol={report.tolerance.atol:g} and rtol={report.tolerance.rtol:g}; the export does not compute "
                    f"what the model computes (check train/eval-mode ops, or loosen --atol/--rtol if expected)"
                )


def random_feed(specs: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, npt.NDArray[np.float32]]:
    """Standard-normal float32 inputs; each input its own stream so no two are equal."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in specs.items()}
