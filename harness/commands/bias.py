"""``mmharness bias [MODEL_DIR]``: modality-bias probes of a VLM (thin CLI over ``harness.mllm.bias``).

Parse flags -> ``BiasConfig`` -> ``run_bias`` -> write results.json -> print the summary table
(data to stdout, progress to stderr). With no arguments it probes the shipped tiny VLM on
``synthetic-vqa``.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import ConfigError, ExitCode
from harness.executors.flags import executor_options, executor_spec
from harness.paths import check_run_paths


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1,3,5") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@click.command(name="bias")
@click.argument("model_dir", required=False, type=click.Path(path_type=Path))
@click.option("--data", default="synthetic-vqa", show_default=True, help="synthetic-vqa[:split] or a VQA JSONL file.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=2), help="Number of items.")
@click.option("--backend", default="ort:cpu", show_default=True, help="ort:cpu | ort:cuda | ort:tensorrt | trt")
@click.option("--backend-opt", "backend_opts", multiple=True,
              help="key=value passed to the backend (repeatable); ort:* defaults to threads=1 (batch-1 decoding).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--permutations", default=3, show_default=True, type=click.IntRange(min=1), help="K seeds of image=permuted.")
@click.option("--corruptions", default="gaussian_noise,defocus_blur,contrast", show_default=True,
              help="Image corruptions probed: names, 'all' (the image suite) or '' for none.")
@click.option("--severities", default="1,3,5", show_default=True, help="Corruption severities (1..5).")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0), help="Resamples for CIs (0: none).")
@click.option("--base-llm", type=click.Path(path_type=Path), default=None,
              help="Text-only base model directory; enables multi-modal leakage (ML).")
@click.option("--mode", type=click.Choice(["choices", "generate"]), default=None, help="Override the manifest's answer mode.")
@click.option("--shard", default="1/1", show_default=True,
              help="Run shard I of N of the probe cells (round-robin); combine with `mmharness merge`.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("mmharness-results/bias"), show_default=True,
              help="Folder for results.json (finished probe cells are kept in OUT/cells as they end).")
@click.option("--resume", is_flag=True, help="skip probe cells already finished in --out (refused if config/model/data changed)")
@click.option("--overwrite", is_flag=True, help="start fresh even where --out holds cells of an unfinished run (they are deleted)")
@click.option("--save-samples", "save_samples", type=int, default=4, show_default=True,
              help="items whose image, question and answers under every probe the HTML report shows (0 = off); OUT/samples.npz")
@click.option("--compare", "compare", multiple=True,
              help="Variant built by `mmharness build` (int4, fp16, int8, int8+int4): the same probes on it, drift and "
                   "parity against the reference into OUT/compare.json (repeatable).")
@click.option("--units", type=click.Choice(["cells", "items"]), default="cells", show_default=True,
              help="work units of --executor ray: a probe cell each, or every probe cell split into one block of items per worker")
@executor_options
def command(model_dir: Path | None, data: str, limit: int, backend: str, backend_opts: tuple[str, ...], seed: int,
            permutations: int, corruptions: str, severities: str, bootstrap: int, base_llm: Path | None,
            mode: str | None, shard: str, out: Path, compare: tuple[str, ...] = (), save_samples: int = 4, units: str = "cells",
            resume: bool = False, overwrite: bool = False, **executor_flags: str | None) -> int:
    """Probe a VLM for modality bias: does it use the image? (clean, image removed/blank/noise/permuted/
    corrupted, text removed/misleading; MG, perceptual score, swap sensitivity, Shapley shares, CIs)."""
    from harness.mllm.bias import DEFAULT_MODEL, BiasConfig, run_bias
    from harness.zoo import shipped_model
    from harness.mllm.summary import render_summary, write_results
    from harness.scenarios.bias import BiasPlan
    from harness.scenarios.plan import parse_shard

    check_run_paths(out, resume, overwrite)  # before any probe runs (harness/paths.py)
    if compare and (resume or overwrite):
        raise ConfigError("--compare runs the reference and every variant afresh and keeps no cells; drop --resume/--overwrite")
    names = _names(corruptions)
    if names == ("all",):
        from harness.corruptions import names as corruption_names

        names = tuple(corruption_names(kind="image"))
    plan = BiasPlan(permutations=permutations, corruptions=names,
                    severities=_ints(severities, "--severities"))
    if backend.startswith("ort:") and not any(opt.startswith("threads=") for opt in backend_opts):
        backend_opts = (*backend_opts, "threads=1")  # batch-1 decoding of small graphs: steadier on shared CPUs
    config = BiasConfig(model=model_dir or shipped_model(DEFAULT_MODEL.name), data=data, limit=limit, backend=backend,
                        backend_options=backend_opts, seed=seed, plan=plan, bootstrap=bootstrap,
                        base_llm=base_llm, mode=mode, shard=parse_shard(shard), executor=executor_spec(**executor_flags), units=units)

    def progress(cell_id: str, done: int, total: int, seconds: float) -> None:
        click.echo(f"[{done:>2}/{total}] {cell_id:<40} {seconds:6.2f}s", err=True)

    if compare:
        return _compare(config, compare, out, progress)
    doc = run_bias(config, progress, out=out, resume=resume, overwrite=overwrite)
    path = write_results(out, doc)
    from harness.mllm.gallery import save_for_run
    from harness.runner.samples import check_count

    save_for_run(out, doc, config, check_count(save_samples))
    from harness.data.vlmeval import write_predictions_beside

    predictions = write_predictions_beside(out, doc)  # a VLMEvalKit TSV: its eval-only mode can score these
    if predictions is not None:
        click.echo(f"predictions (VLMEvalKit format): {predictions}", err=True)
    click.echo(render_summary(doc))
    click.echo(f"results: {path}", err=True)
    return int(ExitCode.OK)


def _compare(config: object, labels: tuple[str, ...], out: Path, progress: object) -> int:
    """``--compare``: reference and variants, then the drift report (compare.md on stdout)."""
    from harness.variants.bias_compare import COMPARE_NAME, render_markdown, run_bias_compare, summary_lines

    if getattr(config, "shard").count != 1:
        raise ConfigError("--compare runs every probe cell on the reference and each variant; drop --shard")
    doc = run_bias_compare(config, labels, out, progress)  # type: ignore[arg-type]
    click.echo(render_markdown(doc))
    for line in summary_lines(doc):
        click.echo(line, err=True)
    click.echo(f"compare: {out / COMPARE_NAME}", err=True)
    return int(ExitCode.OK)
