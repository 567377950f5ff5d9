"""``mmharness export``: a group of exporters, each a subcommand loaded only when used.

Subcommands are listed in ``EXPORT_SUBCOMMANDS`` as lazy ``"module:attr"`` targets, so adding
an exporter is one line here and ``mmharness export --help`` imports neither torch nor any
exporter module. Exporting needs the ``[export]`` extra (torch, onnxscript); the heavy imports
happen inside the subcommand.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import click

from harness.errors import ConfigError, ExitCode

# name -> ("module:attr" of a click command, one-line help shown without importing it)
EXPORT_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "mmss": ("harness.commands.export:mmss", "Multi-modal segmentation model (list/dict/kwargs of modalities) -> ONNX + manifest."),
    "mllm": ("exporters.mllm.cli:command", "Vision-language model (Llava, Idefics3/SmolVLM, Gemma 3, PaliGemma, Qwen2-VL, ...) -> vision/embedding/decoder ONNX + manifest."),
}


class _LazyExportGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(EXPORT_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in EXPORT_SUBCOMMANDS:
            return None
        module, _, attr = EXPORT_SUBCOMMANDS[cmd_name][0].partition(":")
        return getattr(import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Exporters"):
            formatter.write_dl([(name, text) for name, (_, text) in EXPORT_SUBCOMMANDS.items()])


@click.group(cls=_LazyExportGroup, name="export")
def command() -> None:
    """Export a PyTorch model to ONNX + manifest.json (needs: pip install 'mmharness[export]')."""


def parse_factory_args(items: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; values parsed as YAML scalars (``width=32`` -> 32, ``name=x`` -> "x")."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--factory-arg {item!r} is not key=value; e.g. --factory-arg num_classes=25")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = " ".join(str(getattr(error, "problem", "") or "not a YAML value").split())
            raise ConfigError(f"--factory-arg {item!r}: the value is not YAML ({problem}); quote strings, "
                              f"write lists as [a,b] and mappings as {{k: v}}") from None
    return out


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _size(value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--input-size {value!r} is not HxW; e.g. --input-size 64x64") from None
    if h < 1 or w < 1:
        raise ConfigError(f"--input-size {value!r} must be positive")
    return h, w


def _classes(value: str) -> tuple[str, ...]:
    """``a,b,c``, ``@file`` (one name a line) or a dataset name (``synthetic``, ``deliver``)."""
    if value in ("synthetic", "deliver"):
        module = import_module(f"harness.data.{value}")
        return tuple(module.CLASSES)
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise ConfigError(f"--classes {value}: file {path} not found")
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    names = tuple(_split(value))
    if not names:
        raise ConfigError("--classes is empty; give names a,b,c, @file or a dataset name (synthetic, deliver)")
    return names


def _modalities(names: list[str], spec: str | None) -> tuple[dict[str, Any], ...]:
    """Default manifest entries per name, overridden by a YAML/JSON file of full entries (``--modality-spec``)."""
    from exporters.mmss import default_modality

    if spec is None:
        return tuple(default_modality(n) for n in names)
    from harness.manifest.modality_spec import load_modality_spec

    return tuple({**default_modality(e["name"], e.get("channels", 3)), **e} for e in load_modality_spec(spec, names))


@click.command("mmss")
@click.option("--model", "model_target", required=True, help="Factory: pkg.module:build or path/to/file.py:build.")
@click.option("--factory-arg", multiple=True, help="k=v passed to the factory (repeatable).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Optional state dict (.safetensors or torch .pt, weights only).")
@click.option("--modalities", required=True, help="Modality names in forward order, e.g. rgb,depth,event,lidar.")
@click.option("--modality-spec", type=click.Path(dir_okay=False), help="YAML list of manifest modality entries (preprocess, missing fill).")
@click.option("--classes", "classes_arg", required=True, help="a,b,c | @file | synthetic | deliver")
@click.option("--input-size", default="64x64", show_default=True, help="HxW of every modality.")
@click.option("--call", type=click.Choice(["list", "dict", "kwargs"]), default="list", show_default=True,
              help="How forward takes the modalities: model([..]), model({name: ..}) or model(name=..).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Model directory to write.")
@click.option("--name", help="Manifest name (default: the --out folder name).")
@click.option("--opset", default=18, show_default=True, type=int)
@click.option("--exporter", type=click.Choice(["dynamo", "torchscript"]), default="dynamo", show_default=True)
@click.option("--static-batch", type=int, help="Export a fixed batch size instead of a dynamic one.")
@click.option("--batch-max", default=16, show_default=True, type=int, help="Largest batch of the dynamic axis.")
@click.option("--argmax", is_flag=True, help="Output the class map (N x H x W int64) instead of logits.")
@click.option("--ignore-index", default=255, show_default=True, type=int)
@click.option("--atol", default=1e-5, show_default=True, type=float,
              help="Parity: absolute tolerance floor; an element fails when its error exceeds atol + rel-to-max x "
                   "max|torch output| and rtol x |its torch value|.")
@click.option("--rtol", default=1e-3, show_default=True, type=float, help="Parity: relative tolerance per element.")
@click.option("--rel-to-max", "rel_to_max", default=1e-4, show_default=True, type=float,
              help="Parity: fraction of the output's largest |value| (per case) added to --atol, so float32 noise on "
                   "large logits passes; 0 = plain Polygraphy atol/rtol.")
@click.option("--tie-fraction", default=1e-3, show_default=True, type=float,
              help="Parity: largest fraction of pixels whose arg-max class may differ from torch's, and only "
                   "where the torch logits are a near tie (within 2 x (tolerance + rtol x |top|)); logits and --argmax.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds torch/NumPy/random before the factory runs (a random init is reproducible) and the parity inputs.")
def mmss(model_target: str, factory_arg: tuple[str, ...], weights: str | None, modalities: str, modality_spec: str | None,
         classes_arg: str, input_size: str, call: str, out: str, name: str | None, opset: int, exporter: str,
         static_batch: int | None, batch_max: int, argmax: bool, ignore_index: int, atol: float, rtol: float, rel_to_max: float,
         tie_fraction: float, seed: int) -> int:
    """Export a multi-modal segmentation model; verify parity with ONNX Runtime; write manifest.json."""
    from harness.paths import output_dir

    output_dir(Path(out), "--out", files=("manifest.json", "model.onnx", "model.onnx.data"))  # before torch loads (harness/paths.py)
    if modality_spec is not None:  # a malformed spec is refused before torch loads, too
        from harness.manifest.modality_spec import load_modality_spec

        load_modality_spec(modality_spec, _split(modalities))
    try:
        from exporters.mmss import (
            MmssExportConfig,
            export_mmss,
            load_factory,
            load_weights,
            weights_provenance,
        )
    except ImportError as error:
        raise ConfigError(f"exporting needs torch and onnxscript ({error}); install with: pip install 'mmharness[export]'") from None
    config = MmssExportConfig(
        name=name or Path(out).resolve().name,
        modalities=_modalities(_split(modalities), modality_spec),
        classes=_classes(classes_arg),
        input_size=_size(input_size),
        call=call,  # type: ignore[arg-type]
        opset=opset,
        exporter=exporter,  # type: ignore[arg-type]
        dynamic_batch=static_batch is None,
        batch_max=batch_max,
        static_batch=1 if static_batch is None else static_batch,
        argmax=argmax,
        ignore_index=ignore_index,
        atol=atol,
        rtol=rtol,
        rel_to_max=rel_to_max,
        tie_fraction=tie_fraction,
        seed=seed,
        source_model=model_target,
        weights=weights_provenance(Path(weights) if weights else None, seed),
    )
    model = load_factory(model_target, parse_factory_args(factory_arg), seed=seed)
    if weights:
        load_weights(model, Path(weights))
    result = export_mmss(model, out, config)
    click.echo(result.parity.table(), err=True)
    click.echo(str(result.manifest_path))
    return int(ExitCode.OK)
