"""``mmharness build MODEL_DIR --precision fp32|fp16|int8 [--target trt|ort]``.

Thin CLI over ``exporters``: parse flags -> validate the model directory -> plan -> one
library call -> print what was written (JSON on stdout, chatter on stderr) -> exit code.
``--dry-run`` prints the plan without building; ``--target ort`` makes the CPU-runnable
ONNX Runtime variants (no GPU, no TensorRT needed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from harness.variants.calibration import (
    DEFAULT_BATCH,
    DEFAULT_SAMPLES,
    CalibrationPlan,
    CalibrationReader,
)
from harness.errors import ExitCode
from harness.manifest.model import DEFAULT_GRAPH


@dataclass(frozen=True)
class BuildConfig:
    """Everything ``mmharness build`` was asked for."""

    model_dir: str
    precision: str
    target: str | None = None  # None: trt for segmentation models, ort for VLMs (task vqa)
    graph: str = DEFAULT_GRAPH
    calib_data: str = "synthetic"
    calib_split: str = "train"
    calib: CalibrationPlan = field(default_factory=CalibrationPlan)
    calib_method: str = "entropy"
    gpu_id: int = 0
    workspace_mib: int = 2048
    opt_batch: int | None = None
    max_batch: int | None = None
    strongly_typed: bool = False
    cache_dir: str | None = None
    dry_run: bool = False
    assume_trt: int | None = None  # dry run only: plan for this TensorRT major without importing it
    int4_block_size: int = 32


def _reader_factory(contract: Any, config: BuildConfig) -> Callable[[], CalibrationReader]:
    """Open the calibration dataset only when a plan needs it (FP16/FP32 never do)."""

    def make() -> CalibrationReader:
        from harness.data import open_dataset
        from harness.data.agreement import model_channels

        dataset = open_dataset(config.calib_data, split=config.calib_split, channels=model_channels(contract.manifest))
        return CalibrationReader(contract, dataset, config.calib, graph=config.graph)

    return make


def run_build(config: BuildConfig) -> dict[str, Any]:
    """The library call: validate, plan, build, register; returns a JSON-safe summary."""
    from pathlib import Path

    from exporters.variants.plan import parse_precision, parse_target, plan_build
    from harness.errors import ConfigError
    from harness.manifest import load_manifest, validate_against_graph
    from harness.paths import output_file

    precision = parse_precision(config.precision)
    manifest = load_manifest(config.model_dir)
    if manifest.task == "vqa":
        return _build_vlm(config, precision)
    target = parse_target(config.target or "trt")
    if config.graph not in manifest.graphs:
        raise ConfigError(f"--graph {config.graph!r} is not in {config.model_dir}/manifest.json graphs ({', '.join(manifest.graphs)})")
    contract = validate_against_graph(manifest)
    reader = _reader_factory(contract, config)
    source_file = manifest.graphs[config.graph]
    if target == "ort":
        plan = plan_build(precision, "ort", None, source_file=source_file, base_role=config.graph)
        if config.dry_run:
            return {"plan": plan.describe()}
        output_file(Path(manifest.model_dir) / plan.output, "MODEL_DIR")  # before calibrating (harness/paths.py)
        from exporters.variants.ort import build_ort_variant

        result = build_ort_variant(contract, precision, reader, graph=config.graph, calib_method=config.calib_method)
        return {"plan": plan.describe(), "written": result.path.name, "role": result.role, "sha256": result.sha256}

    from exporters.variants.features import (
        detect_features,
        documented_features,
        import_tensorrt,
    )
    from exporters.tensorrt import EngineOptions, build_engine
    from exporters.variants.ort import register_graph

    if config.assume_trt is not None:
        if not config.dry_run:
            raise ConfigError("--assume-trt only plans (with --dry-run); a real build uses the installed TensorRT")
        plan = plan_build(precision, "trt", documented_features(config.assume_trt), source_file=source_file,
                          base_role=config.graph, strongly_typed=config.strongly_typed)
        return {"plan": plan.describe(), "tensorrt": f"{config.assume_trt}.x (assumed)"}
    trt = import_tensorrt()
    features = detect_features(trt)
    plan = plan_build(precision, "trt", features, source_file=source_file, base_role=config.graph,
                      strongly_typed=config.strongly_typed)
    if config.dry_run:
        return {"plan": plan.describe(), "tensorrt": features.version}
    output_file(Path(manifest.model_dir) / plan.output, "MODEL_DIR")  # before the engine build (harness/paths.py)
    options = EngineOptions(
        precision=precision, gpu_id=config.gpu_id, workspace_mib=config.workspace_mib, opt_batch=config.opt_batch,
        max_batch=config.max_batch, strongly_typed=config.strongly_typed, cache_dir=config.cache_dir,
        calib_method=config.calib_method,
    )
    built = build_engine(contract, options, reader if plan.needs_calibration_data else None, graph=config.graph, trt=trt)
    register_graph(manifest.model_dir, plan.role, plan.output)
    return {
        "plan": plan.describe(), "written": built.engine.name, "sidecar": built.sidecar.name, "role": plan.role,
        "seconds": round(built.seconds, 3), "tensorrt": features.version,
    }


def _build_vlm(config: BuildConfig, precision: str) -> dict[str, Any]:
    """The VLM branch (``exporters.variants.vlm``): ONNX Runtime variants of the three graphs."""
    from exporters.variants.plan import parse_target
    from exporters.variants.vlm import VisionCalibration, build_vlm_variant, vlm_roles
    from harness.errors import ConfigError

    if parse_target(config.target or "ort") != "ort":
        raise ConfigError(f"--target {config.target}: VLM variants are ONNX Runtime graphs; use --target ort (or omit it)")
    graph = None if config.graph == DEFAULT_GRAPH else config.graph
    roles = vlm_roles(precision, graph)
    if config.dry_run:
        return {"plan": {"precision": precision, "target": "ort", "roles": [f"{r}.{precision}" for r in roles]}}

    def calibration(spec: Any) -> VisionCalibration:
        from harness.data.vqa import open_vqa

        data = "synthetic-vqa:" + config.calib_split if config.calib_data in ("synthetic", "synthetic-vqa") else config.calib_data
        dataset = open_vqa(data, size=config.calib.num_samples, image_size=spec.image.size[0])
        return VisionCalibration(spec, dataset, config.calib.num_samples, config.calib.batch_size)

    written = build_vlm_variant(config.model_dir, precision, graph, calibration=calibration,
                                calib_method=config.calib_method, int4_block_size=config.int4_block_size)
    return {"plan": {"precision": precision, "target": "ort", "roles": [v.role for v in written]},
            "written": ", ".join(v.file for v in written), "role": ", ".join(v.role for v in written),
            "sha256": {v.file: v.sha256 for v in written}}


@click.command("build")
@click.argument("model_dir", type=click.Path(file_okay=False))
@click.option("--precision", required=True, help="fp32, fp16, int8, or int4 (VLM decoder, weight-only).")
@click.option("--target", default=None, help="trt (TensorRT engine; the default for segmentation) or ort (ONNX Runtime "
              "variant, CPU-runnable; the only target of VLMs).")
@click.option("--graph", default=DEFAULT_GRAPH, show_default=True,
              help="Manifest graph role to build from; for a VLM vision, embedding or decoder (default: the precision's graphs).")
@click.option("--calib-data", default="synthetic", show_default=True, help="Calibration dataset spec (as for `run --data`).")
@click.option("--calib-split", default="train", show_default=True, help="Dataset split used for calibration.")
@click.option("--calib-samples", default=DEFAULT_SAMPLES, show_default=True, type=int, help="Calibration samples.")
@click.option("--calib-batch", default=DEFAULT_BATCH, show_default=True, type=int, help="Calibration batch size.")
@click.option("--calib-method", default="entropy", show_default=True, help="Q/DQ range estimator: entropy, minmax, percentile.")
@click.option("--gpu-id", default=0, show_default=True, type=int, help="CUDA device that builds (and will run) the engine.")
@click.option("--workspace", "workspace_mib", default=2048, show_default=True, type=int, help="Builder workspace limit, MiB.")
@click.option("--opt-batch", default=None, type=int, help="Profile opt batch (default: the max batch).")
@click.option("--max-batch", default=None, type=int, help="Profile max batch (default: manifest batch.max).")
@click.option("--strongly-typed", is_flag=True, help="TensorRT 10: take the typed-ONNX path (always on in TensorRT 11).")
@click.option("--cache-dir", default=None, help="Timing/calibration cache folder (default: MODEL_DIR/.mmharness-cache).")
@click.option("--int4-block-size", default=32, show_default=True, type=int, help="INT4 weight block size along K (power of two >= 16).")
@click.option("--dry-run", is_flag=True, help="Print the build plan and exit.")
@click.option("--assume-trt", type=click.IntRange(10, 11), default=None,
              help="With --dry-run: plan for TensorRT 10 or 11 without tensorrt installed.")
def command(model_dir: str, precision: str, target: str, graph: str, calib_data: str, calib_split: str,
            calib_samples: int, calib_batch: int, calib_method: str, gpu_id: int, workspace_mib: int,
            opt_batch: int | None, max_batch: int | None, strongly_typed: bool, cache_dir: str | None,
            int4_block_size: int, dry_run: bool, assume_trt: int | None) -> int:
    """Build a TensorRT engine or an ONNX Runtime FP16/INT8 variant beside the FP32 model (VLMs: FP16
    graphs, INT8 vision encoder, INT4 weight-only decoder)."""
    config = BuildConfig(
        model_dir=model_dir, precision=precision, target=target, graph=graph, calib_data=calib_data,
        calib_split=calib_split, calib=CalibrationPlan(calib_samples, calib_batch), calib_method=calib_method,
        gpu_id=gpu_id, workspace_mib=workspace_mib, opt_batch=opt_batch, max_batch=max_batch,
        strongly_typed=strongly_typed, cache_dir=cache_dir, dry_run=dry_run, assume_trt=assume_trt,
        int4_block_size=int4_block_size,
    )
    summary = run_build(config)
    if not dry_run:
        click.echo(f"mmharness build: wrote {summary['written']} (graphs.{summary['role']})", err=True)
    click.echo(json.dumps(summary, sort_keys=True))
    return int(ExitCode.OK)
