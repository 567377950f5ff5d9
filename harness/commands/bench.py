"""``mmharness bench``: latency, throughput and (where the device reports it) power.

Parse flags into a ``BenchConfig``, call ``run_bench``, write ``bench.json`` into ``--out``
(the folder ``mmharness run`` writes ``results.json`` into, so reports find both), print the
summary (or the JSON with ``--json``) on stdout.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.bench.document import BENCH_NAME
from harness.errors import ExitCode
from harness.paths import output_dir


@click.command(name="bench")
@click.argument("model_dir", required=False, default=None, type=click.Path(file_okay=False))
@click.option("--backend", default="ort:cpu", show_default=True, help="ort:cpu, ort:cuda, ort:tensorrt or trt.")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE", help="Passed to the backend (repeatable).")
@click.option("--batch", default=1, show_default=True, type=int, help="Samples per inference.")
@click.option("--warmup", default=1.0, show_default=True, type=float, help="Warm-up seconds (not measured).")
@click.option("--iterations", default=100, show_default=True, type=int, help="Minimum measured iterations.")
@click.option("--duration", default=3.0, show_default=True, type=float, help="Minimum measured seconds.")
@click.option("--max-iterations", default=None, type=int, help="Stop after this many iterations even if --duration is not reached.")
@click.option("--data", default="synthetic", show_default=True, help="Dataset whose first --batch samples are the inputs.")
@click.option("--scenarios", default="", help="Also time every cell of these scenarios (e.g. emm,nm).")
@click.option("--nm-suite", default="default", show_default=True, help="NM corruptions for --scenarios nm: default | full | liao | 'rgb=fog+snow'.")
@click.option("--cell-iterations", default=20, show_default=True, type=int, help="Minimum measured iterations per cell.")
@click.option("--cell-duration", default=0.0, show_default=True, type=float,
              help="Minimum measured seconds per cell (cells warm up min(--warmup, 0.1) s; the schedule is stated in the output).")
@click.option("--telemetry", default="auto", show_default=True, help="auto, off, ina3221, tegrastats or nvml.")
@click.option("--telemetry-interval", default=0.05, show_default=True, type=float, help="Seconds between power samples.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", default="mmharness-results", show_default=True, type=click.Path(file_okay=False), help=f"Folder for {BENCH_NAME}.")
@click.option("--json", "as_json", is_flag=True, help="Print the bench document as JSON instead of the summary.")
def command(
    model_dir: str | None,
    backend: str,
    backend_opts: tuple[str, ...],
    batch: int,
    warmup: float,
    iterations: int,
    duration: float,
    max_iterations: int | None,
    data: str,
    scenarios: str,
    nm_suite: str,
    cell_iterations: int,
    cell_duration: float,
    telemetry: str,
    telemetry_interval: float,
    seed: int,
    out_dir: str,
    as_json: bool,
) -> int:
    """Measure latency (p50/p90/p95/p99, nearest-rank) and throughput of MODEL_DIR
    (default: the shipped models/mmss-synth-robust, as for ``mmharness run``).

    Warm-up by time, then at least --iterations AND at least --duration seconds, one inference
    in flight at a time (trtexec / MLPerf SingleStream). Power and energy per inference come
    from tegrastats / INA3221 on Jetson or NVML on desktop GPUs; absent hardware is recorded as
    skipped. Exit codes: 0 ok, 2 bad flags or model directory, 3 model failed to load.
    """
    from harness.backends.interface import parse_options
    from harness.bench.api import BenchConfig, run_bench
    from harness.bench.document import write_bench
    from harness.bench.measure import Schedule
    from harness.bench.render import render_text
    from harness.commands.run import default_model_dir

    output_dir(Path(out_dir), "--out", files=(BENCH_NAME,))  # before measuring (harness/paths.py)
    schedule = Schedule(warmup_s=warmup, min_iterations=iterations, min_duration_s=duration, max_iterations=max_iterations)
    cell_schedule = Schedule(warmup_s=min(warmup, 0.1), min_iterations=cell_iterations, min_duration_s=cell_duration,
                             flag_prefix="cell-")
    selected: tuple[str, ...] = ()
    if scenarios:
        from harness.scenarios.plan import parse_scenarios

        selected = parse_scenarios(scenarios)
    config = BenchConfig(
        model_dir=model_dir if model_dir is not None else str(default_model_dir()),
        backend=backend,
        backend_options=tuple(parse_options(backend_opts).items()),
        batch=batch,
        schedule=schedule,
        data=data,
        scenarios=selected,
        nm_suite=nm_suite,
        cell_schedule=cell_schedule,
        telemetry=telemetry,
        telemetry_interval_s=telemetry_interval,
        seed=seed,
    )
    doc = run_bench(config)
    path = write_bench(Path(out_dir), doc)
    if as_json:
        import json

        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(render_text(doc))
    click.echo(f"wrote {path}", err=True)
    return int(ExitCode.OK)
