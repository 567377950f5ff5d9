"""``mmharness gate RESULTS``: thresholds and/or baseline -> table, JUnit, exit 0 or 1."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ConfigError
from harness.paths import output_file


@click.command("gate")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--thresholds", type=click.Path(path_type=Path), default=None, help="YAML/JSON floors and max drops (see docs in harness/gate.py)")
@click.option("--baseline", type=click.Path(path_type=Path), default=None, help="results of the build to compare with")
@click.option("--max-drop", type=click.FloatRange(min=0), default=None, help="with --baseline and no thresholds: allowed drop on headline metrics (default 1.0)")
@click.option("--significant-only", is_flag=True, help="fail a drop only when it exceeds its bootstrap CI")
@click.option("--junit", type=click.Path(path_type=Path), default=None, help="also write the checks as JUnit XML")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="also write the verdict and every check as JSON (`mmharness report --gate FILE` heads the report with it)")
def command(results: Path, thresholds: Path | None, baseline: Path | None, max_drop: float | None, significant_only: bool, junit: Path | None,
            json_out: Path | None = None) -> int:
    """Exit 0 when every check passes, 1 on a regression or failed cell, 2 on bad input."""
    from dataclasses import replace

    from harness.gate import (
        DEFAULT_MAX_DROP,
        default_thresholds,
        evaluate,
        junit_cases,
        load_thresholds,
        render_table,
    )
    from harness.report.io import atomic_write
    from harness.report.junit import render
    from harness.report.results import load_results

    if junit is not None:
        output_file(junit, "--junit")  # before reading anything (harness/paths.py)
    if max_drop is not None and not max_drop < float("inf"):  # click's FloatRange lets nan and inf through
        raise ConfigError(f"--max-drop {max_drop}: expected a finite number of percent points >= 0 (e.g. 1.0)")
    if json_out is not None:
        output_file(json_out, "--json")
    if thresholds is None and baseline is None:
        raise ConfigError("gate: give --thresholds FILE and/or --baseline RESULTS (nothing to compare against)")
    if thresholds is not None and max_drop is not None:
        raise ConfigError("gate: --max-drop applies only without --thresholds; set max_drop in the thresholds file instead")
    rules = load_thresholds(thresholds) if thresholds is not None else default_thresholds(max_drop if max_drop is not None else DEFAULT_MAX_DROP)
    if significant_only:
        rules = replace(rules, significant_only=True)
    doc, per_image = load_results(results)
    base_doc, base_images = load_results(baseline) if baseline is not None else (None, None)
    report = evaluate(doc, rules, base_doc, per_image, base_images)
    click.echo(render_table(report))
    if junit is not None:
        atomic_write(junit, render("mmharness gate", junit_cases(report)).encode("utf-8"))
    if json_out is not None:
        from harness.report.io import dumps
        from harness.report.verdict import gate_document

        atomic_write(json_out, dumps(gate_document(report, doc, rules.source)))
    return int(report.exit_code)
