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
def command(results: Path, fmt: str, output: Path | None) -> int:
    """Render a results file (or the folder holding results.json); nothing is recomputed."""
    from harness.report import render_report
    from harness.report.io import atomic_write
    from harness.report.results import load_results

    if output is not None:
        output_file(output, "-o/--output")  # before reading anything (harness/paths.py)
    doc, _ = load_results(results, with_per_image=False)
    text = render_report(doc, fmt, _compare_section(results))
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


def _compare_section(results: Path) -> list[tuple[str, list]]:
    """``run --compare``'s per-candidate deltas and parity, when its compare.json sits beside results."""
    from harness.compare import compare_beside, compare_tables, compare_title

    compared = compare_beside(results)
    return [] if compared is None else [(compare_title(compared), compare_tables(compared))]
