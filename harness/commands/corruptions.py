"""``mmharness corruptions``: list the corruption registry, or preview it on an image.

``mmharness corruptions [--kind K] [--json]`` prints name, kinds, space, family and what
severities 1..5 mean; ``mmharness corruptions preview --modality rgb --input FILE --out DIR``
writes a PNG grid of every corruption x severity. Data go to stdout, chatter to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.errors import ConfigError, ExitCode
from harness.paths import output_dir


def _parse_severities(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v not in range(1, 6) for v in values):
        raise ConfigError(
            f"--severities: expected comma-separated integers 1..5, got {text!r}"
        )
    return values


@click.group(invoke_without_command=True)
@click.option(
    "--kind",
    default=None,
    help="Only corruptions for this modality kind (image, depth, lidar, event, thermal).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.pass_context
def command(ctx: click.Context, kind: str | None, as_json: bool) -> int:
    """List corruptions (name, kinds, space, severity meaning) or preview them on an image."""
    if ctx.invoked_subcommand is not None:
        return int(ExitCode.OK)
    from harness.corruptions import describe

    records = describe(kind)
    if as_json:
        payload = [
            {
                "name": c.name,
                "kinds": list(c.kinds),
                "space": c.space,
                "family": c.family,
                "summary": c.summary,
                "severities": list(c.severities),
            }
            for c in records
        ]
        click.echo(json.dumps(payload, indent=2))
        return int(ExitCode.OK)
    rows = [("name", "kinds", "space", "family", "severity 1..5")]
    rows += [
        (
            c.name,
            ",".join(c.kinds),
            c.space,
            c.family,
            f"{c.summary}: {' | '.join(c.severities)}",
        )
        for c in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths))
            + "  "
            + row[4]
        )
    return int(ExitCode.OK)


@command.command("preview")
@click.option(
    "--modality",
    required=True,
    help="Modality of the input: rgb, depth, lidar, event, thermal.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Image file to corrupt.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the PNG grid.",
)
@click.option(
    "--names",
    "names_text",
    default="",
    help="Comma-separated corruptions (default: all for the modality).",
)
@click.option("--severities", "severities_text", default="1,2,3,4,5", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--height",
    default=160,
    show_default=True,
    type=click.IntRange(16, 2048),
    help="Tile height in pixels.",
)
def preview(
    modality: str,
    input_path: Path,
    out_dir: Path,
    names_text: str,
    severities_text: str,
    seed: int,
    height: int,
) -> int:
    """Write a PNG grid of every corruption x severity applied to --input."""
    from harness.corruptions import get
    from harness.corruptions.preview import (
        build_grid,
        read_input,
        resolve_kind,
        write_preview,
    )

    output_dir(out_dir, "--out")  # before any work (harness/paths.py)
    kind = resolve_kind(modality)
    severities = _parse_severities(severities_text)
    chosen = tuple(n.strip() for n in names_text.split(",") if n.strip())
    for name in chosen:
        if kind not in get(name).kinds:
            raise ConfigError(
                f"--names: corruption {name!r} does not apply to {modality} ({kind}); "
                f"it applies to {', '.join(get(name).kinds)}"
            )
    raw = read_input(input_path, kind)
    try:
        grid = build_grid(raw, kind, chosen, severities, seed=seed, height=height)
    except (
        ConfigError
    ) as error:  # names and severities are checked: this is about the file
        raise ConfigError(f"--input {input_path}: {error}") from None
    path = write_preview(grid, out_dir, f"corruptions_{modality}")
    click.echo(str(path))
    click.echo(
        f"{grid.shape[1]}x{grid.shape[0]} grid, {len(chosen) or 'all'} corruptions x {len(severities)} severities",
        err=True,
    )
    return int(ExitCode.OK)
