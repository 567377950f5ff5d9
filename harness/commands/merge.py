"""``mmharness merge A B ... -o OUT``: combine shard results of one sweep exactly."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode


@click.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="folder for the merged results.json")
def command(results: tuple[Path, ...], out: Path) -> int:
    """Union of the shards' cells; refuses files from different sweeps; re-derives aggregates."""
    from harness.report.merge import merge_results
    from harness.report.results import save_results

    doc, per_image = merge_results(list(results))
    path = save_results(out, doc, per_image)
    state = "complete" if doc["plan"]["complete"] else f"partial ({len(doc['cells'])} of {len(doc['plan']['cells'])} cells)"
    click.echo(f"mmharness: merged {len(results)} file(s) into {path}: {state}", err=True)
    return int(ExitCode.OK)
