"""The export driver: graphs, genai_config.json, tokenizer files and manifest.json of one VLM."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from exporters.mllm.families import Family, family_of
from exporters.mllm.graphs import (
    GENAI_DECODER,
    DecoderWithCache,
    MergedEmbedding,
    causal_decoder_graph,
    export_decoder,
    export_embedding,
    head_dim,
    kv_heads,
)
from exporters.mllm.tokenizer import export_tokenizer
from harness.errors import ConfigError

OPSET = 17
PREPROCESSOR_CONFIG = "preprocessor_config.json"
OG_PROCESSOR_CONFIG = "processor_config.json"  # onnxruntime-genai's own image pipeline (onnxruntime-extensions)
# the prompt tokens onnxruntime-genai 0.18's processors insert, per genai type: (image marker the
# user writes, image token, end token), and the image-token count gemma3's hard-codes
OG_PROMPT_TOKENS = {"gemma3": ("<start_of_image>", "<image_soft_token>", "<end_of_image>"),
                    "qwen2_5_vl": ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")}
OG_GEMMA3_IMAGE_TOKENS = 256
# PIL filter ids (transformers' ``resample``) -> onnxruntime-extensions Resize ``interpolation``
OG_INTERPOLATION = {0: "NEAREST", 2: "LINEAR", 3: "CUBIC"}


@dataclass(frozen=True)
class ExportOptions:
    """What the manifest needs beyond the model: tokenizer, prompt, answer mode.

    ``prompt_template`` holds ``{image}`` (expanded to ``tokens_per_image`` image tokens) and
    ``{question}``; ``answer_mode`` is ``choices`` (rank options) or ``generate`` (greedy).
    """

    tokenizer: Path
    prompt_template: str = "{image} {question}"
    answer_mode: str = "generate"
    image_token: str = "<image>"
    add_bos: bool = True
    stop_token_ids: tuple[int, ...] = ()
    max_new_tokens: int = 8
    missing_image: str = "no_image_tokens"
    transformersjs: bool = False  # also write the transformers.js layout under <out>/tjs (docs/vlm-contract.md)
    source: str = ""
    parity_questions: tuple[str, ...] = ()  # run parity in the staged folder; a mismatch fails the export
    image_processor: Path | None = None  # preprocessor_config.json (or its folder); default: the family's
    image_block: str | None = None  # vqa.image_block: plain | family; None: left to the runtime (docs/manifest.md)
    extra: dict[str, Any] = field(default_factory=dict)


def export_mllm(model: Any, out_dir: str | Path, options: ExportOptions) -> dict[str, Any]:
    """Export ``model`` (eval mode, fp32) to ``out_dir``; returns the manifest written.

    Everything is written to a temporary folder beside ``out_dir`` and moved there only when the
    export (and, with ``options.parity_questions``, its parity) succeeded: a failed export leaves
    no folder that looks valid. A parity mismatch raises ``ParityError``.
    """
    family = family_of(model)
    _check_options(options)
    final = Path(out_dir)
    with staged_folder(final) as out:
        manifest = _export_into(family, model, out, final.name, options)
        if options.parity_questions:
            from exporters.mllm.parity import check_parity
            from exporters.verify import ParityError

            manifest["parity"] = check_parity(model, out, list(options.parity_questions))
            if not manifest["parity"]["greedy_tokens_equal"]:
                raise ParityError(f"{final}: the export's greedy tokens differ from transformers' generate "
                                  f"(max |logit diff| {manifest['parity']['max_abs_logit_diff']:.3g}); nothing was "
                                  "written. Check the preprocessing (preprocessor_config.json) and the family's graphs")
    return manifest


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A temporary folder beside ``final``, moved into place when the block succeeds and deleted
    when it raises. Into an existing ``final`` the files move one by one, ``manifest.json`` (the
    file that makes a folder look like a model) first removed and moved last; a file the previous
    manifest listed under ``checksums`` that this export does not write is removed (e.g. a stale
    ``processor_config.json`` onnxruntime-genai would still read)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if not final.exists():
        os.replace(stage, final)
        return
    stale = [name for name in _previous_files(final) if not (stage / name).exists()]
    (final / "manifest.json").unlink(missing_ok=True)
    for name in stale:
        (final / name).unlink(missing_ok=True)
    for entry in sorted(stage.iterdir(), key=lambda entry: entry.name == "manifest.json"):
        target = final / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    stage.rmdir()


def _previous_files(folder: Path) -> list[str]:
    """Plain file names under ``checksums`` in ``folder``'s manifest (none when it is unreadable)."""
    try:
        checksums = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("checksums", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in checksums if isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")]


def _export_into(family: Family, model: Any, out: Path, name: str, options: ExportOptions) -> dict[str, Any]:
    """Write every file of the export into ``out``; ``name`` is the manifest's (the final folder's)."""
    model = model.eval()
    text_config = family.text_config(model)
    processor = image_processor(family, model, options)
    check_processor(family, model, processor)
    timings: dict[str, float] = {}
    with torch.no_grad():
        start = time.perf_counter()
        family.export_vision(model, str(out / "vision.onnx"), OPSET)
        timings["vision"] = time.perf_counter() - start
        start = time.perf_counter()
        embed = _input_embeddings(family, model)
        export_embedding(
            MergedEmbedding(embed, model.config.image_token_id).eval(),
            text_config.hidden_size,
            str(out / "embedding.onnx"),
            OPSET,
        )
        timings["embedding"] = time.perf_counter() - start
        start = time.perf_counter()
        if family.export_decoder is not None:
            family.export_decoder(model, str(out / "decoder.onnx"), OPSET)
        else:
            decoder = DecoderWithCache(family.language_model(model), family.lm_head(model), text_config,
                                       _layers(text_config), family.attention, family.position_offset)
            export_decoder(decoder.eval(), str(out / "decoder.onnx"), OPSET)
        if family.attention != "causal":  # onnxruntime-genai never feeds attention_groups: its own decoder graph
            causal_decoder_graph(str(out / "decoder.onnx"), str(out / GENAI_DECODER))
        timings["decoder"] = time.perf_counter() - start
    export_tokenizer(options.tokenizer, out)  # og reads it as shipped
    processor.to_json_file(str(out / PREPROCESSOR_CONFIG))
    image = {**family.image_spec(model, processor), "processor": PREPROCESSOR_CONFIG}
    og_processor = og_processor_config(family, model, json.loads(processor.to_json_string()), out / "tokenizer.json")
    if og_processor is not None:
        (out / OG_PROCESSOR_CONFIG).write_text(json.dumps(og_processor, indent=1) + "\n")
    (out / "genai_config.json").write_text(json.dumps(genai_config(model, family, image), indent=1) + "\n")
    if options.transformersjs:
        write_transformersjs(model, family, out)
    manifest = build_manifest(model, family, options, out, timings, image)
    manifest["name"] = name
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def image_processor(family: Family, model: Any, options: ExportOptions) -> Any:
    """The transformers image processor of the export: ``options.image_processor`` (a
    ``preprocessor_config.json`` or its folder, as ``save_pretrained`` writes it), else the
    family's default built from the model config."""
    if options.image_processor is not None:
        from transformers import AutoImageProcessor

        path = Path(options.image_processor)  # a file, or a folder holding preprocessor_config.json
        try:
            return AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(f"{path}: transformers cannot read it as an image processor "
                              f"({str(error).splitlines()[0]}); save the processor with save_pretrained") from None
    if family.image_processor is None:
        raise ConfigError(f"family {family.name}: no default image processor; pass the model's {PREPROCESSOR_CONFIG}")
    return family.image_processor(model)


def check_processor(family: Family, model: Any, processor: Any) -> None:
    """Before any graph is traced: the runtime reproduces this image processor and it yields the
    vision graph's size (an unsupported option, e.g. Idefics3's image splitting, is one line)."""
    import numpy as np

    from harness.errors import ManifestError
    from harness.mllm.processors import preprocess

    spec = family.image_spec(model, processor)
    try:
        pixels = preprocess([np.zeros((*spec["size"], 3), dtype=np.uint8)], json.loads(processor.to_json_string()))
    except ManifestError as error:
        raise ConfigError(f"image processor: {error}") from None
    if pixels.image_grid_thw is None and list(pixels.pixel_values.shape[2:]) != list(spec["size"]):  # grids: sized per image
        raise ConfigError(f"image processor: {PREPROCESSOR_CONFIG} gives {list(pixels.pixel_values.shape[2:])} pixels, the "
                          f"vision graph takes {spec['size']}; pass the processor that matches the model")


def write_transformersjs(model: Any, family: Family, out: Path) -> Path:
    """``<out>/tjs``: the same vision and decoder graphs renamed, a plain ``embed_tokens`` graph
    (transformers.js merges image features on the host), HF config and processor files."""
    from exporters.mllm.graphs import PlainEmbedding

    tjs = out / "tjs"
    (tjs / "onnx").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "vision.onnx", tjs / "onnx" / "vision_encoder.onnx")
    shutil.copyfile(out / "decoder.onnx", tjs / "onnx" / "decoder_model_merged.onnx")
    embed = PlainEmbedding(_input_embeddings(family, model)).eval()
    with torch.no_grad():
        torch.onnx.export(embed, (torch.tensor([[1, 2, 3]]),), str(tjs / "onnx" / "embed_tokens.onnx"),
                          input_names=["input_ids"], output_names=["inputs_embeds"],
                          dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                                        "inputs_embeds": {0: "batch_size", 1: "sequence_length"}},
                          opset_version=OPSET, dynamo=False)
    config = model.config.to_dict()
    config["transformers.js_config"] = {"kv_cache_dtype": "float32"}
    (tjs / "config.json").write_text(json.dumps(config, indent=1, default=str) + "\n")
    (tjs / "generation_config.json").write_text(model.generation_config.to_json_string())
    # transformers.js reads the processor the model ships, as transformers does
    for name in ("tokenizer.json", "tokenizer_config.json", PREPROCESSOR_CONFIG):
        shutil.copyfile(out / name, tjs / name)
    return tjs


def _input_embeddings(family: Family, model: Any) -> Any:
    language_model: Any = family.language_model(model)
    return language_model.get_input_embeddings()


def _check_options(options: ExportOptions) -> None:
    if not Path(options.tokenizer).is_file():
        raise ConfigError(f"tokenizer {options.tokenizer}: file not found; pass a HF tokenizers JSON (tokenizer.json)")
    if "{image}" not in options.prompt_template:
        raise ConfigError(
            f"prompt_template {options.prompt_template!r}: no '{{image}}' placeholder; add it where the image tokens go"
        )
    if "{question}" not in options.prompt_template:
        raise ConfigError(f"prompt_template {options.prompt_template!r}: no '{{question}}' placeholder; add it")
    if options.answer_mode not in ("choices", "generate"):
        raise ConfigError(f"answer_mode {options.answer_mode!r}: expected 'choices' or 'generate'")


def _layers(config: Any) -> int:
    return int(config.num_hidden_layers)




def _token_ids(model: Any) -> dict[str, int]:
    config = model.config.text_config
    return {
        "bos_token_id": int(config.bos_token_id if config.bos_token_id is not None else 1),
        "eos_token_id": int(config.eos_token_id if config.eos_token_id is not None else 2),
        "pad_token_id": int(config.pad_token_id if config.pad_token_id is not None else 0),
    }


def genai_config(model: Any, family: Family, image: dict[str, Any]) -> dict[str, Any]:
    """The onnxruntime-genai config (docs/vlm-contract.md): strict schema, so nothing of ours goes in here."""
    text = family.text_config(model)
    ids = _token_ids(model)
    layers = _layers(text)
    context = int(getattr(text, "max_position_embeddings", 2048))
    vision_inputs = {"pixel_values": "pixel_values"}
    if image["pixel_attention_mask"]:
        vision_inputs["attention_mask"] = "pixel_attention_mask"
    config = {
        "model": {
            "type": family.genai_type,
            **ids,
            "vocab_size": int(text.vocab_size),
            "context_length": context,
            "image_token_id": int(model.config.image_token_id),
            "decoder": {
                "filename": genai_decoder_file(family),
                "hidden_size": int(text.hidden_size),
                "head_size": head_dim(text),
                "num_attention_heads": int(text.num_attention_heads),
                "num_key_value_heads": kv_heads(text),
                "num_hidden_layers": layers,
                "inputs": {
                    "inputs_embeds": "inputs_embeds",
                    "attention_mask": "attention_mask",
                    "position_ids": "position_ids",
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
                "session_options": {"provider_options": []},
            },
            "embedding": {
                "filename": "embedding.onnx",
                "inputs": {"input_ids": "input_ids", "image_features": "image_features"},
                "outputs": {"inputs_embeds": "inputs_embeds"},
            },
            "vision": {
                "filename": "vision.onnx",
                "inputs": vision_inputs,
                "outputs": {"image_features": "image_features"},
            },
        },
        "search": {
            "do_sample": False,
            "max_length": context,
            "num_beams": 1,
            "past_present_share_buffer": False,
            "top_k": 1,
        },
    }
    _merge(config["model"], family.genai_fields(model))
    return config


def genai_decoder_file(family: Family) -> str:
    """The decoder graph ``genai_config.json`` names: ours, or with an attention rule (which needs
    ``attention_groups``, an input onnxruntime-genai does not feed) the causal copy of it."""
    return "decoder.onnx" if family.attention == "causal" else GENAI_DECODER


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    """``extra`` into ``target`` key by key (nested objects merged, other values replaced)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _genai_files(family: Family, out: Path) -> tuple[str, ...]:
    """Files written for onnxruntime-genai only (checksummed like the graphs)."""
    names = () if family.attention == "causal" else (GENAI_DECODER,)
    return (*names, *((OG_PROCESSOR_CONFIG,) if (out / OG_PROCESSOR_CONFIG).is_file() else ()))


def og_processor_config(family: Family, model: Any, config: dict[str, Any], tokenizer: Path) -> dict[str, Any] | None:
    """onnxruntime-genai's ``processor_config.json`` (docs/vlm-contract.md), derived from the
    export's ``preprocessor_config.json`` (``config``), or None where og's own processor would not
    give our prompt: og 0.18 picks the processor by ``model.type`` and inserts fixed token
    strings, so it is written only for Gemma 3 with 256 tokens per image and Qwen2-VL/2.5-VL,
    each when ``tokenizer`` holds those strings with the export's image token id, and only for a
    resize onnxruntime-extensions has (nearest, bilinear, bicubic; no crops). Llava,
    Idefics3 and PaliGemma (run under the gemma3 type by surrogate) get none: og's gemma3
    processor would expand the prompt with Gemma 3's tokens; they run from ``NamedTensors``."""
    marks = OG_PROMPT_TOKENS.get(family.genai_type)
    if marks is None or (family.genai_type == "gemma3" and family.name != "gemma3"):
        return None
    if family.genai_type == "gemma3" and int(family.tokens_per_image(model)) != OG_GEMMA3_IMAGE_TOKENS:
        return None
    added = {token["content"]: token["id"] for token in json.loads(tokenizer.read_text(encoding="utf-8")).get("added_tokens", [])}
    if any(mark not in added for mark in marks) or added[marks[1]] != int(model.config.image_token_id):
        return None
    if config.get("do_pan_and_scan") or not config.get("do_resize", True):  # crops / no resize: no og operation does that
        return None
    resample = int(config.get("resample", 3 if family.genai_type == "qwen2_5_vl" else 2))
    if resample not in OG_INTERPOLATION:  # lanczos, box, hamming: onnxruntime-extensions' Resize has none of them
        return None
    ops: list[dict[str, Any]] = [{"name": "decode_image", "type": "DecodeImage", "attrs": {"color_space": "RGB"}}]
    patch, merge = int(config.get("patch_size", 14)), int(config.get("merge_size", 2))
    if family.genai_type == "qwen2_5_vl":  # without ConvertRGB og 0.18's Qwen pipeline gives BGR patches (measured)
        ops.append({"name": "convert_to_rgb", "type": "ConvertRGB"})
        bounds = config.get("size") or {}
        ops.append({"name": "resize", "type": "Resize", "attrs": {
            "interpolation": OG_INTERPOLATION[resample], "smart_resize": 1,
            "min_pixels": int(bounds.get("shortest_edge", config.get("min_pixels", 56 * 56))),
            "max_pixels": int(bounds.get("longest_edge", config.get("max_pixels", 28 * 28 * 1280))),
            "patch_size": patch, "merge_size": merge}})
    else:
        size = config["size"]
        ops.append({"name": "resize", "type": "Resize", "attrs": {
            "height": int(size["height"]), "width": int(size["width"]), "interpolation": OG_INTERPOLATION[resample],
            "keep_aspect_ratio": 0}})
    if config.get("do_rescale", True):
        ops.append({"name": "rescale", "type": "Rescale", "attrs": {"rescale_factor": float(config.get("rescale_factor", 1 / 255))}})
    if config.get("do_normalize", True):
        normalize: dict[str, Any] = {"mean": [float(v) for v in config["image_mean"]],
                                     "std": [float(v) for v in config["image_std"]]}
        if family.genai_type == "qwen2_5_vl":
            normalize["qwen2_5_vl"] = 1
        ops.append({"name": "normalize", "type": "Normalize", "attrs": normalize})
    if family.genai_type == "qwen2_5_vl":
        ops.append({"name": "patch_image", "type": "PatchImage", "attrs": {
            "patch_size": patch, "temporal_patch_size": int(config.get("temporal_patch_size", 2)), "merge_size": merge}})
    else:
        ops.append({"name": "to_channel_first", "type": "Permute3D", "attrs": {"dims": [2, 0, 1]}})
    return {"processor": {"name": f"{family.genai_type}_image_processor",
                          "transforms": [{"operation": op} for op in ops]}}


def build_manifest(
    model: Any, family: Family, options: ExportOptions, out: Path, timings: dict[str, float], image: dict[str, Any]
) -> dict[str, Any]:
    """Our manifest (docs/vlm-contract.md): graphs, the ``vqa`` block, provenance with checksums."""
    import onnx
    import transformers

    text = family.text_config(model)
    ids = _token_ids(model)
    graphs = {"vision": "vision.onnx", "embedding": "embedding.onnx", "decoder": "decoder.onnx"}
    vqa = {
        "family": family.name,
        "attention": family.attention,
        "architecture": type(model).__name__,
        "hf_model_type": str(model.config.model_type),
        "og_model_type_surrogate": family.genai_type,
        "tokenizer": "tokenizer.json",
        "image_token": options.image_token,
        "image_token_id": int(model.config.image_token_id),
        "tokens_per_image": int(family.tokens_per_image(model)),
        "prompt_template": options.prompt_template,
        "add_bos": options.add_bos,
        **ids,
        "stop_token_ids": sorted({ids["eos_token_id"], *options.stop_token_ids}),
        "max_new_tokens": options.max_new_tokens,
        "answer_mode": options.answer_mode,
        "missing_image": options.missing_image,
        "image": image,
        "hidden_size": int(text.hidden_size),
        "vocab_size": int(text.vocab_size),
        "kv_cache": {
            "num_layers": _layers(text),
            "num_kv_heads": kv_heads(text),
            "head_dim": head_dim(text),
            "dtype": "float32",
            "layout": "batch,kv_heads,seq,head_dim",
            "past_key": "past_key_values.%d.key",
            "past_value": "past_key_values.%d.value",
            "present_key": "present.%d.key",
            "present_value": "present.%d.value",
        },
        **family.vqa_fields(model),
        **({"image_block": options.image_block} if options.image_block else {}),
        **options.extra,
    }
    return {
        "schema_version": 1,
        "name": out.name,
        "task": "vqa",
        "graphs": graphs,
        "vqa": vqa,
        "provenance": {
            "exporter": "exporters.mllm (torch.onnx TorchScript; dynamo for idefics3 vision)",
            "opset": OPSET,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "transformers": transformers.__version__,
            "source": options.source or type(model).__name__,
            "export_seconds": {name: round(value, 3) for name, value in timings.items()},
            "sha256": {role: _sha256(out / name) for role, name in graphs.items()},
        },
        # validate (and the runtime's loader) refuse a graph or processor file changed after export
        "checksums": {name: _sha256(out / name) for name in
                      (*graphs.values(), *_genai_files(family, out), "tokenizer.json", PREPROCESSOR_CONFIG)},
        "parity": {},
    }
