"""``mmharness report RESULTS``: render results.json as Markdown, HTML or JUnit XML."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode
from harness.paths import output_file


@click.command("report")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["md", "html", "junit"]), default="md", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="write here instead of stdout")
@click.option("--gate", "gate", type=click.Path(path_type=Path), default=None,
              help="head the report with this verdict: the file `mmharness gate ... --json FILE` wrote for these results")
@click.option("--thresholds", type=click.Path(path_type=Path), default=None,
              help="evaluate this thresholds file (as `mmharness gate` does) and head the report with the verdict")
@click.option("--baseline", type=click.Path(path_type=Path), default=None, help="with --thresholds: the baseline results for max_drop rules")
def command(results: Path, fmt: str, output: Path | None, gate: Path | None = None, thresholds: Path | None = None,
            baseline: Path | None = None) -> int:
    """Render a results file (or the folder holding results.json); nothing is recomputed."""
    from harness.report import render_report
    from harness.report.io import atomic_write
    from harness.report.results import load_results

    if output is not None:
        output_file(output, "-o/--output")  # before reading anything (harness/paths.py)
    doc, _ = load_results(results, with_per_image=False)
    text = render_report(doc, fmt, _compare_section(results), verdict=_verdict(results, doc, gate, thresholds, baseline),
                         gallery=_gallery(results, doc) if fmt == "html" else None)
    if fmt == "junit":  # a bias run with `bias --compare`'s compare.json beside: the drift cases too
        from harness.variants.compare import compare_beside
        from harness.variants.bias_compare import junit_with_drift

        text = junit_with_drift(doc, compare_beside(results)) or text
    if fmt == "md":  # latency from `mmharness bench --out` into the same folder (harness/bench)
        from harness.bench.document import bench_beside
        from harness.bench.render import render_markdown

        bench = bench_beside(results)
        if bench is not None:
            text += "\n" + render_markdown(bench)
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output, text.encode("utf-8"))
        click.echo(f"mmharness: wrote {output}", err=True)
    return int(ExitCode.OK)


def _verdict(results: Path, doc: dict, gate: Path | None, thresholds: Path | None, baseline: Path | None) -> object:
    """The gate verdict heading the report: from ``--gate`` (gate --json) or evaluated from ``--thresholds``."""
    from harness.errors import ConfigError
    from harness.report.verdict import evaluate_thresholds, load_gate

    if gate is not None and thresholds is not None:
        raise ConfigError("report: give --gate FILE or --thresholds FILE, not both")
    if baseline is not None and thresholds is None:
        raise ConfigError("report: --baseline applies to --thresholds only")
    if gate is not None:
        return load_gate(gate, doc)
    return evaluate_thresholds(results, thresholds, baseline, doc) if thresholds is not None else None


def _gallery(results: Path, doc: dict) -> object:
    """The samples ``run --save-samples`` kept beside results.json (HTML only)."""
    from harness.mllm.gallery import load_vqa_gallery
    from harness.report.gallery import load_gallery

    return load_gallery(results, doc) if doc.get("task") != "vqa" else load_vqa_gallery(results, doc)


def _compare_section(results: Path) -> list[tuple[str, list]]:
    """``run --compare``'s per-candidate deltas and parity (``bias --compare``'s drift for a VLM),
    when its compare.json sits beside results."""
    from harness.variants.compare import compare_beside, compare_tables, compare_title

    compared = compare_beside(results)
    if compared is None:
        return []
    if compared.get("task") == "vqa":
        from harness.variants.bias_compare import drift_tables

        return [("Modality-bias drift against the FP32 reference", drift_tables(compared))]
    return [(compare_title(compared), compare_tables(compared))]
