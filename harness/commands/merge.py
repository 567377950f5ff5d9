"""``mmharness merge A B ... -o OUT``: combine shard results of one sweep exactly."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode


@click.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="folder for the merged results.json")
def command(results: tuple[Path, ...], out: Path) -> int:
    """Combine `mmharness run --shard I/N` results of one sweep into one results.json.

    \b
    Shards split the plan by cells, never by images: every cell ran whole, on all samples, in
    exactly one shard, so a merge is the union of the cells (plan order) with their confusion
    states and per-image matrices copied, not re-added, and the aggregates and CIs re-derived:
    all shards merged give the cells, aggregates and CIs of the unsharded run exactly.
    Refused: files of another config, model, dataset or image set, and a cell present twice
    with different states. Accepted: the same shard twice (idempotent) and a subset of the
    shards (a partial result; aggregates that need absent cells are reported unavailable).
    """
    from harness.report.merge import merge_results
    from harness.report.results import save_results

    doc, per_image = merge_results(list(results))
    path = save_results(out, doc, per_image)
    state = "complete" if doc["plan"]["complete"] else f"partial ({len(doc['cells'])} of {len(doc['plan']['cells'])} cells)"
    click.echo(f"mmharness: merged {len(results)} file(s) into {path}: {state}", err=True)
    return int(ExitCode.OK)
