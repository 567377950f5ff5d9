"""``mmharness run``: parse flags into a ``RunConfig``, call ``run_sweep``, print a summary.

With no arguments it evaluates the shipped ``models/mmss-synth-robust`` on the synthetic
validation split on ``ort:cpu`` under EMM, RMM and the default NM suite.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ConfigError, ExitCode
from harness.executors.flags import executor_options, executor_spec
from harness.paths import check_run_paths
from harness.runner.config import (
    DEFAULT_BATCH,
    DEFAULT_BOOTSTRAP,
    DEFAULT_MODEL,
    DEFAULT_SAVE_SAMPLES,
)


def default_model_dir() -> Path:
    """The shipped ``mmss-synth-robust`` (see :mod:`harness.zoo`)."""
    from harness.zoo import shipped_model

    return shipped_model(Path(DEFAULT_MODEL).name)


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated numbers (e.g. 0.75,0.5,0.25), got {text!r}") from None


@click.command("run")
@click.argument("model_dir", required=False, type=click.Path(path_type=Path))
@click.option("--model", "model_option", type=click.Path(path_type=Path), default=None, help="same as MODEL_DIR (default: the shipped models/mmss-synth-robust)")
@click.option("--data", default="synthetic", show_default=True, help="synthetic | deliver:PATH | folder:SPEC")
@click.option("--class-map", "class_map", default=None,
              help="when the dataset's classes are not the model's: FILE (YAML 'dataset class: model class', null = ignore) "
                   "or 'names' (same names); unmapped dataset classes are ignored")
@click.option("--split", default="val", show_default=True, help="dataset split")
@click.option("--scenarios", default="emm,rmm,nm", show_default=True, help="comma-separated subset of emm,rmm,nm")
@click.option("--backend", default="ort:cpu", show_default=True, help="ort:cpu | ort:cuda | ort:tensorrt | trt")
@click.option("--backend-opt", "backend_opt", multiple=True, help="backend option key=value (repeatable), e.g. threads=2")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(min=1), help="batch size (a static graph batch overrides it)")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="evaluate only the first N samples")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", default="mmharness-results", show_default=True, type=click.Path(path_type=Path), help="output folder")
@click.option("--shard", default="1/1", show_default=True, help="run shard I of N (see --shard-by; default: cell k when k mod N = I-1, on all samples); "
                   "`mmharness merge` of all shards equals the unsharded run exactly")
@click.option("--shard-by", "shard_by", type=click.Choice(["cells", "samples"]), default="cells", show_default=True,
              help="cells: each shard runs whole cells; samples: each shard runs every cell on a contiguous block of whole "
                   "batches of the images (reads only those), and merge adds the confusion matrices")
@click.option("--resume", is_flag=True, help="skip cells already finished in --out (refused if config/model changed)")
@click.option("--overwrite", is_flag=True, help="start fresh even where --out holds cells of an unfinished run (they are deleted)")
@click.option("--nm-suite", default="default", show_default=True, help="default | full | liao | 'rgb=fog+snow;depth=pixelate'")
@click.option("--rmm-rates", default="0.75,0.5,0.25", show_default=True, help="RMM drop rates")
@click.option("--rmm-seeds", default=1, show_default=True, type=click.IntRange(min=1), help="RMM seeds per cell (mean ± std)")
@click.option("--bootstrap", default=DEFAULT_BOOTSTRAP, show_default=True, type=click.IntRange(min=0), help="bootstrap resamples for CIs (0: none)")
@click.option("--progress", type=click.Choice(["auto", "rich", "plain", "off"]), default="auto", show_default=True)
@click.option("--prefetch/--no-prefetch", default=True, show_default=True,
              help="build the next batch and score the previous one on worker threads while the model runs (results are identical either way)")
@click.option("--clean-cache", "clean_cache", type=click.Choice(["auto", "memory", "disk"]), default="auto", show_default=True,
              help="where the preprocessed clean inputs live: memory, or disk = OUT/clean-cache/*.npy mapped read-only "
                   "(RAM bounded by the batch; re-used by --resume); auto = disk when they exceed 1 GiB (results identical either way)")
@click.option("--keep-clean-cache", is_flag=True, help="keep OUT/clean-cache after the sweep (default: delete it)")
@click.option("--telemetry/--no-telemetry", "telemetry", default=True, show_default=True,
              help="sample power/energy during the sweep (Jetson INA3221/tegrastats, NVML); off records telemetry as skipped")
@click.option("--compare", "compare", multiple=True,
              help="also run the same cells on a precision variant and/or backend and report deltas + parity "
                   "(repeatable): int8, fp16, trt, trt@int8; writes OUT/compare.json")
@click.option("--parity-atol", "parity_atol", type=float, default=None, help="--compare: absolute output tolerance (Polygraphy --atol; default 1e-2)")
@click.option("--parity-rtol", "parity_rtol", type=float, default=None, help="--compare: relative output tolerance (Polygraphy --rtol; default 1e-2)")
@click.option("--parity-check", "parity_check", default=None,
              help="--compare: elemwise | max | mean | median | quantile (Polygraphy --check-error-stat; default elemwise)")
@click.option("--save-samples", "save_samples", type=int, default=DEFAULT_SAVE_SAMPLES, show_default=True,
              help="samples whose inputs and predictions the HTML report shows (seeded choice + the most hurt; 0 = off); OUT/samples.npz")
@click.option("--evaluation", type=click.Choice(["model", "native"]), default=None,
              help="where labels are scored (default: the manifest's 'evaluation', else model): model = DELIVER/Liao, labels resized "
                   "(nearest) to the model input; native = mmsegmentation, logits resized (bilinear) to the labels' on-disk size")
@executor_options
def command(model_dir: Path | None, model_option: Path | None, data: str, split: str, scenarios: str, backend: str, backend_opt: tuple[str, ...], batch: int, limit: int | None, seed: int,
            out: Path, shard: str, resume: bool, nm_suite: str, rmm_rates: str, rmm_seeds: int, bootstrap: int, progress: str, prefetch: bool, shard_by: str = "cells",
            clean_cache: str = "auto", keep_clean_cache: bool = False, compare: tuple[str, ...] = (), telemetry: bool = True,
            overwrite: bool = False, parity_atol: float | None = None, parity_rtol: float | None = None,
            parity_check: str | None = None, class_map: str | None = None, save_samples: int = DEFAULT_SAVE_SAMPLES, evaluation: str | None = None, **executor_flags: str | None) -> int:
    """Evaluate a model under missing (EMM, RMM) and noisy (NM) modalities; write results.json."""
    from harness.manifest import load_manifest
    from harness.runner import RunConfig, run_sweep
    from harness.runner.samples import check_count
    from harness.runner.suites import resolve_suite
    from harness.runner.summary import summary
    from harness.scenarios.plan import PlanSpec, parse_scenarios, parse_shard

    if model_dir is not None and model_option is not None and model_dir != model_option:
        raise ConfigError(f"run: MODEL_DIR {model_dir} and --model {model_option} disagree; give one of them")
    model_dir = model_dir or model_option or default_model_dir()
    check_run_paths(out, resume, overwrite, compare)  # before anything loads (harness/paths.py)
    selected = parse_scenarios(scenarios)
    shard_value = parse_shard(shard, shard_by)  # type: ignore[arg-type]
    manifest = load_manifest(model_dir)
    suite, severities = resolve_suite(nm_suite, manifest) if "nm" in selected else ((), (1, 3, 5))
    plan = PlanSpec(scenarios=selected, rmm_rates=_floats(rmm_rates, "--rmm-rates"), rmm_seeds=rmm_seeds,
                    nm_suite=suite, nm_severities=severities)
    config = RunConfig(model_dir=model_dir, data=data, split=split, backend=backend, backend_options=backend_opt, batch=batch, limit=limit, seed=seed,
                       plan=plan, bootstrap=bootstrap, out=out, shard=shard_value, resume=resume, overwrite=overwrite, progress=progress, prefetch=prefetch,  # type: ignore[arg-type]
                       clean_cache=clean_cache, keep_clean_cache=keep_clean_cache, telemetry=telemetry, class_map=class_map,  # type: ignore[arg-type]
                       executor=executor_spec(**executor_flags), save_samples=check_count(save_samples), evaluation=evaluation)  # type: ignore[arg-type]
    tolerance_flags = (parity_atol, parity_rtol, parity_check)
    if not compare and any(flag is not None for flag in tolerance_flags):
        raise ConfigError("--parity-atol/--parity-rtol/--parity-check apply to --compare only; add e.g. --compare int8")
    if compare:  # run --compare: the reference sweep plus each candidate's (harness/variants/compare.py)
        from harness.variants.compare import (
            parse_candidates,
            run_compare,
            summary_lines,
            tolerance_from_flags,
        )

        tolerance = tolerance_from_flags(*tolerance_flags)
        compared = run_compare(config, parse_candidates(compare, backend), tolerance=tolerance)
        result = compared.reference
        click.echo(summary(result.doc, result.path))
        click.echo("\n".join([*summary_lines(compared.doc), f"compare report: {compared.path}"]))
    else:
        result = run_sweep(config)
        click.echo(summary(result.doc, result.path))
    if result.failed:
        click.echo(f"mmharness: warning: {len(result.failed)} cell(s) failed (see results); `mmharness gate` will fail", err=True)
    return int(ExitCode.OK)
