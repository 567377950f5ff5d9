"""``mmharness merge A B ... -o OUT``: combine shard results of one sweep exactly."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ExitCode
from harness.paths import output_dir


@click.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="folder for the merged results.json")
def command(results: tuple[Path, ...], out: Path) -> int:
    """Combine `mmharness run --shard I/N` results of one sweep into one results.json.

    \b
    By cells (default): every cell ran whole, on all samples, in exactly one shard; the merge
    is the union of the cells (plan order), states and per-image matrices copied.
    By samples (`run --shard-by samples`): every shard ran every cell on its own contiguous
    block of whole batches; the merge adds each cell's confusion matrices and concatenates
    the per-image matrices in sample order (a cell failed in any shard stays failed).
    Either way the aggregates and CIs are re-derived, and all shards merged give the cells,
    aggregates and CIs of the unsharded run exactly. Refused: files of another config, model
    or dataset, mixed shard kinds, images or cells covered twice with different results.
    Accepted: the same shard twice (counted once) and a subset of the shards (a partial
    result; aggregates that need absent cells are reported unavailable).
    """
    from harness.report.merge import merge_results
    from harness.report.results import RESULTS_NAME, SIDECAR_NAME, save_results

    output_dir(out, "-o/--out", files=(RESULTS_NAME, SIDECAR_NAME))  # before reading anything (harness/paths.py)
    doc, per_image = merge_results(list(results))
    path = save_results(out, doc, per_image)
    state = "complete" if doc["plan"]["complete"] else f"partial ({len(doc['cells'])} of {len(doc['plan']['cells'])} cells)"
    click.echo(f"mmharness: merged {len(results)} file(s) into {path}: {state}", err=True)
    return int(ExitCode.OK)
