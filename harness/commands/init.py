"""``mmharness init PATH.onnx``: write a manifest for a segmentation graph mmharness did not export.

Parse flags into ``InitOptions`` -> ``init_model_dir`` (infer, copy, hash, write) -> print
what was inferred and what the user must confirm (stderr), and the manifest path (stdout).
"""

from __future__ import annotations

import json
from typing import Any

import click

from harness.errors import ConfigError, ExitCode


def _pairs(items: tuple[str, ...], flag: str, example: str) -> dict[str, str]:
    """``INPUT=VALUE`` items -> dict (one line naming the flag on a malformed one)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{flag} {item!r} is not INPUT=VALUE; e.g. {flag} {example}")
        if key in out:
            raise ConfigError(f"{flag}: input {key!r} is given twice")
        out[key] = value
    return out


def parse_modalities(items: tuple[str, ...]) -> dict[str, tuple[str, str, str | None]]:
    """``INPUT=NAME:KIND[:LAYOUT]`` -> {input: (name, kind, layout)}."""
    from harness.manifest.infer import LAYOUTS, MODALITY_NAME
    from harness.manifest.presets import KINDS

    out = {}
    for key, value in _pairs(items, "--modality", "rgb_0=rgb:image").items():
        parts = value.split(":")
        layout = parts[2].upper() if len(parts) == 3 else None
        if len(parts) not in (2, 3) or parts[1] not in KINDS or (len(parts) == 3 and layout not in LAYOUTS):
            raise ConfigError(f"--modality {key}={value}: expected INPUT=NAME:KIND[:LAYOUT] with KIND one of "
                              f"{', '.join(KINDS)} and LAYOUT NCHW or NHWC; e.g. --modality {key}=rgb:image")
        if not MODALITY_NAME.match(parts[0]):
            raise ConfigError(f"--modality {key}={value}: name {parts[0]!r} must match [a-z][a-z0-9_]*")
        out[key] = (parts[0], parts[1], layout)
    return out


def parse_constants(items: tuple[str, ...]) -> dict[str, Any]:
    """``INPUT=VALUE`` with VALUE a JSON number, boolean or list."""
    out = {}
    for key, text in _pairs(items, "--constant", "temperature=1.0").items():
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, (int, float, bool, list)):
            raise ConfigError(f"--constant {key}={text}: the value must be a JSON number, true/false or a list")
        out[key] = value
    return out


def _output(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    name, _, layout = value.rpartition(":") if value.upper().endswith((":NCHW", ":NHWC")) else (value, "", "")
    return name, layout.upper() or None


def render(result: Any) -> str:
    """What was inferred, as a table, then the assumptions to confirm."""
    inf = result.inference
    rows = [["input", "modality", "kind", "channels", "layout", "dtype", "preprocess", "from"]]
    for m in inf.modalities:
        pre = m.preprocess
        text = "identity" if pre == {"scale": 1.0, "mean": [0.0], "std": [1.0]} else (
            f"x*{pre['scale']:.6g}, mean {_floats(pre['mean'])}, std {_floats(pre['std'])}")
        if m.missing.get("fill") == "mask":
            text += f"; mask {m.missing['mask_input']}"
        rows.append([m.input, m.name, m.kind, str(m.channels), m.layout, m.dtype, text, m.source])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    out = inf.output
    classes = ", ".join(inf.classes[:6]) + (", ..." if len(inf.classes) > 6 else "")
    batch = f"dynamic, max {inf.batch['max']}" if inf.batch["dynamic"] else f"fixed {inf.batch['size']}"
    resize = inf.resize
    lines = [
        f"mmharness init: {result.graph.path}",
        "inputs:", *table,
        *(f"  {c['input']}: constant {c['value']} ({c['dtype']} {c['shape']})" for c in inf.constants),
        f"output: {out.name} ({out.role}, {out.layout})",
        f"classes: {len(inf.classes)} from {inf.classes_source} ({classes}); ignore_index {inf.ignore_index}",
        f"input size: {inf.input_size[0]}x{inf.input_size[1]} (from {inf.size_source}); frames resized shorter edge "
        f"to {resize['size']}, align {resize['align']} (bilinear); scored at "
        + ("the labels' native size" if inf.evaluation == "native" else "the model input size")
        + ("" if inf.evaluation else " (evaluation: model, the default)"),
        f"batch: {batch}",
        *(f"confirm: {note}" for note in inf.confirm),
    ]
    if result.copied:
        lines.append(f"copied into {result.manifest_path.parent}: {', '.join(result.copied)}")
    lines.append(f"wrote {result.manifest_path}; check it with: mmharness validate {result.manifest_path.parent}")
    return "\n".join(lines)


def _floats(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


@click.command("init")
@click.argument("onnx_path", metavar="PATH.onnx|DIR", type=click.Path(path_type=str))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Model directory to write (default: the ONNX file's folder; another folder gets a copy of the graph and its external data).")
@click.option("--name", default=None, help="Manifest name (default: the file stem).")
@click.option("--modality", "modalities", multiple=True, metavar="INPUT=NAME:KIND[:LAYOUT]",
              help="Declare what an input carries (repeatable); KIND: image, depth, lidar, event, thermal. "
                   "Without it the kind is guessed from name tokens (rgb/img/image/camera, depth/hha/disparity, "
                   "lidar/range, event/evt, thermal/ir/lwir).")
@click.option("--mask", "masks", multiple=True, metavar="INPUT=MODALITY",
              help="INPUT is the presence mask of MODALITY (1 present, 0 missing) (repeatable).")
@click.option("--constant", "constants", multiple=True, metavar="INPUT=VALUE",
              help="Feed INPUT a fixed JSON value on every run (repeatable; the input must have a static shape).")
@click.option("--preset", type=click.Choice(["deliver", "imagenet", "none"]), default="deliver", show_default=True,
              help="Normalisation: deliver = x/255 then ImageNet mean/std on every modality (DELIVER's val transform); "
                   "imagenet = x/255 then ImageNet mean/std on image inputs and x/255 only on depth/lidar/event/thermal; "
                   "none = identity.")
@click.option("--classes", default=None, metavar="deliver|cityscapes|FILE",
              help="Class names: a preset, or a file with one name per line or a JSON list; checked against the graph.")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Class count when the graph does not fix it and no --classes is given (names class0..).")
@click.option("--input-size", default=None, metavar="HxW", help="Resolution for graphs with a dynamic height/width.")
@click.option("--evaluation", type=click.Choice(["model", "native"]), default=None,
              help="Score at the model's resolution or at the labels' native one (default: the manifest default).")
@click.option("--output", "output", default=None, metavar="NAME[:LAYOUT]",
              help="The prediction output when several qualify (and its layout, NCHW or NHWC, for logits).")
@click.option("--batch-max", type=click.IntRange(min=1), default=16, show_default=True,
              help="Largest batch for a dynamic batch axis.")
@click.option("--ignore-index", type=int, default=255, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing manifest.json (and differing copies in --out).")
@click.option("--family", default=None, help="VLM folder: the vqa family (default: config.json model_type or genai_config.json model.type).")
@click.option("--variant", default=None, metavar="fp32|fp16|q4|quantized|...",
              help="transformers.js folder: the graphs onnx/<name>_<variant>.onnx (default fp32, no suffix).")
@click.option("--prompt-template", default=None, help="VLM folder: the prompt, with {image} and {question} (default \"{image} {question}\").")
@click.option("--answer-mode", type=click.Choice(["generate", "choices"]), default="generate", show_default=True,
              help="VLM folder: greedy answers or ranked options.")
def command(onnx_path: str, out_dir: str | None, name: str | None, modalities: tuple[str, ...], masks: tuple[str, ...],
            constants: tuple[str, ...], preset: str, classes: str | None, num_classes: int | None,
            input_size: str | None, evaluation: str | None, output: str | None, batch_max: int,
            ignore_index: int, force: bool, family: str | None, variant: str | None, prompt_template: str | None,
            answer_mode: str) -> int:
    """Infer a manifest.json for a segmentation ONNX graph (inputs -> modalities, preprocessing, classes,
    input size, batch), or for a VLM folder DIR (onnxruntime-genai or transformers.js layout).
    Prints every assumption to confirm."""
    from pathlib import Path

    folder = Path(onnx_path).is_dir()
    flags = {"--modality": modalities, "--mask": masks, "--constant": constants, "--preset": preset != "deliver",
             "--classes": classes, "--num-classes": num_classes, "--input-size": input_size, "--evaluation": evaluation,
             "--output": output, "--batch-max": batch_max != 16, "--ignore-index": ignore_index != 255} if folder else \
        {"--family": family, "--variant": variant, "--prompt-template": prompt_template,
         "--answer-mode": answer_mode != "generate"}
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise ConfigError(f"{given[0]}: only for {'a segmentation PATH.onnx' if folder else 'a VLM folder DIR'}; "
                          f"drop it for {onnx_path}")
    if folder:
        return _vlm_folder(onnx_path, out_dir, name, force, family, variant, prompt_template, answer_mode)
    from harness.commands.export import _size
    from harness.manifest.bootstrap import init_model_dir
    from harness.manifest.infer import InitOptions

    output_name, output_layout = _output(output)
    options = InitOptions(
        modalities=parse_modalities(modalities),
        masks=_pairs(masks, "--mask", "depth_present=depth"),
        constants=parse_constants(constants),
        preset=preset,
        classes=classes,
        num_classes=num_classes,
        input_size=_size(input_size) if input_size is not None else None,
        evaluation=evaluation,
        output=output_name,
        output_layout=output_layout,
        batch_max=batch_max,
        ignore_index=ignore_index,
    )
    result = init_model_dir(onnx_path, out_dir, options, name=name, force=force)
    click.echo(render(result), err=True)
    click.echo(str(result.manifest_path))
    return int(ExitCode.OK)


def _vlm_folder(directory: str, out_dir: str | None, name: str | None, force: bool, family: str | None,
                variant: str | None, prompt_template: str | None, answer_mode: str) -> int:
    """``init DIR``: the manifest is written beside the graphs (they must be inside its folder)."""
    from harness.mllm.folder import FolderOptions, init_vlm_folder

    if out_dir is not None:
        raise ConfigError(f"--out {out_dir}: a VLM folder's manifest is written in {directory} itself (its graphs must "
                          "be inside the manifest's folder); drop --out")
    result = init_vlm_folder(directory, FolderOptions(family=family, variant=variant, prompt_template=prompt_template,
                                                      answer_mode=answer_mode, name=name, force=force))
    vqa, graphs = result.manifest["vqa"], result.manifest["graphs"]
    kv, image = vqa["kv_cache"], vqa["image"]
    lines = [
        f"mmharness init: {result.manifest_path.parent} ({result.layout} folder)",
        *(f"  {role}: {file}" for role, file in graphs.items()),
        f"family: {vqa['family']} (from {result.sources['family']}); attention {vqa['attention']}; "
        f"image features merged by the {'embedding graph' if vqa['merge'] == 'graph' else 'runtime'}",
        f"image: {image['layout']} {image['size'][0]}x{image['size'][1]} by {image['processor']}; "
        f"{vqa['tokens_per_image']} tokens per image (the vision graph on one image); image token id {vqa['image_token_id']}",
        f"decoder: {kv['num_layers']} layers, {kv['num_kv_heads']} kv heads x {kv['head_dim']}, hidden {vqa['hidden_size']}, "
        f"{kv['dtype']}; bos {vqa['bos_token_id']}, stop {vqa['stop_token_ids']}",
        *(f"  io.{role}: {', '.join(f'{ours} -> {theirs}' for ours, theirs in names.items())}"
          for role, names in vqa.get("io", {}).items()),
        f"answer mode: {vqa['answer_mode']}",
        *(f"confirm: {note}" for note in result.confirm),
        f"wrote {result.manifest_path}; check it with: mmharness validate {result.manifest_path.parent}",
    ]
    click.echo("\n".join(lines), err=True)
    click.echo(str(result.manifest_path))
    return int(ExitCode.OK)
