"""``mmharness init DIR``: the manifest of a VLM folder mmharness did not export, so ``bias`` runs
on it as it is (no graph renamed or rewritten).

Two layouts: an onnxruntime-genai folder (``genai_config.json`` names the three graphs and their
tensors) and an onnx-community / transformers.js folder (``onnx/vision_encoder*.onnx``,
``embed_tokens*.onnx``, ``decoder_model_merged*.onnx`` plus the Hugging Face ``config.json``).
What the configs say is cross-checked with the graphs' own I/O; what neither says (the family
of a surrogate ``gemma3`` type, the prompt template) is printed for the user to confirm. The image
preprocessing is the folder's ``preprocessor_config.json``, else (an onnxruntime-genai folder) its
``processor_config.json`` when that is one of the two pipelines mmharness exports write, read back
into ``preprocessor_config.og.json``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ManifestError
from harness.report.io import file_sha256
from harness.safeload import json_loads

PREPROCESSOR = "preprocessor_config.json"
OG_PROCESSOR = "processor_config.json"  # onnxruntime-genai's image pipeline (onnxruntime-extensions operations)
OG_DERIVED = "preprocessor_config.og.json"  # what init writes from it when the folder has no PREPROCESSOR
# onnxruntime-extensions Resize interpolation -> PIL filter id; CUBIC is its default
OG_RESAMPLE = {"NEAREST": 0, "LINEAR": 2, "CUBIC": 3}
ROLES = ("vision", "embedding", "decoder")
TJS_FILES = {"vision": "vision_encoder", "embedding": "embed_tokens", "decoder": "decoder_model_merged"}
# Hugging Face model_type / onnxruntime-genai model.type -> vqa.family
FAMILY_OF = {"llava": "llava", "idefics3": "idefics3", "smolvlm": "smolvlm", "gemma3": "gemma3",
             "paligemma": "paligemma", "qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl"}
# the decoder's attention beyond causal, when its graph takes attention_groups (docs/vlm-contract.md)
ATTENTION_OF = {"gemma3": "image_blocks", "paligemma": "prefix"}
DEFAULT_TEMPLATE = "{image} {question}"


@dataclass(frozen=True)
class FolderOptions:
    family: str | None = None
    variant: str | None = None
    prompt_template: str | None = None
    answer_mode: str = "generate"
    name: str | None = None
    force: bool = False


@dataclass
class FolderInit:
    """The written manifest, where each inferred field came from, and what to confirm."""

    manifest_path: Path
    layout: str
    manifest: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    confirm: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # files init wrote besides the manifest (removed on failure)


def _json(path: Path, required: bool = True) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ConfigError(f"{path}: not found; a VLM folder needs it beside the graphs")
        return {}
    try:
        doc = json_loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path}: not valid JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: holds {type(doc).__name__}, expected an object")
    return doc


def _og_graphs(directory: Path, genai: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """Graph files, ``vqa.io`` renames and KV name patterns from ``genai_config.json``'s model sections."""
    model = genai.get("model", {})
    graphs: dict[str, str] = {}
    io: dict[str, dict[str, str]] = {}
    for role in ROLES:
        section = model.get(role)
        if not isinstance(section, dict) or not isinstance(section.get("filename"), str):
            raise ConfigError(f"{directory / 'genai_config.json'}: model.{role}.filename: missing; the folder needs "
                              "vision, embedding and decoder graphs")
        graphs[role] = section["filename"]
        names = {**section.get("inputs", {}), **section.get("outputs", {})}
        if role == "vision":  # og's attention_mask there is the pixel mask: vqa.image.pixel_attention_mask
            names.pop("attention_mask", None)
        io[role] = {ours: theirs for ours, theirs in names.items()
                    if isinstance(theirs, str) and "%" not in theirs and ours != theirs}
    decoder = model["decoder"]
    kv = {field: decoder.get(section, {}).get(key) for field, section, key in (
        ("past_key", "inputs", "past_key_names"), ("past_value", "inputs", "past_value_names"),
        ("present_key", "outputs", "present_key_names"), ("present_value", "outputs", "present_value_names"))}
    return graphs, io, {k: v for k, v in kv.items() if isinstance(v, str)}


VARIANT = re.compile(r"^(?P<stem>vision_encoder|embed_tokens|decoder_model_merged)(?:_(?P<variant>[A-Za-z0-9]+))?\.onnx$")


def _tjs_graphs(directory: Path, variant: str | None) -> dict[str, str]:
    """``onnx/<stem>[_<variant>].onnx`` per role; fp32 (no suffix) unless ``--variant`` says otherwise."""
    found: dict[str, set[str]] = {stem: set() for stem in TJS_FILES.values()}
    for path in (directory / "onnx").glob("*.onnx"):
        match = VARIANT.match(path.name)
        if match:
            found[match["stem"]].add(match["variant"] or "fp32")
    wanted = variant or "fp32"
    common = set.intersection(*found.values())
    if wanted not in common:
        choices = ", ".join(sorted(common)) or "none"
        missing = [stem for stem, variants in found.items() if wanted not in variants]
        raise ConfigError(f"{directory / 'onnx'}: no {wanted} graph for {', '.join(missing)} (variants with all three "
                          f"graphs: {choices}); pass --variant with one of them")
    suffix = "" if wanted == "fp32" else f"_{wanted}"
    return {role: f"onnx/{stem}{suffix}.onnx" for role, stem in TJS_FILES.items()}


def _family(options: FolderOptions, hf_type: str | None, og_type: str | None, where: str, result: FolderInit) -> str:
    from harness.mllm.families import family_names

    if options.family is not None:
        if options.family not in family_names():
            raise ConfigError(f"--family {options.family!r}: not a known family (known: {', '.join(family_names())})")
        result.sources["family"] = "--family"
        return options.family
    for kind, source in ((hf_type, "config.json model_type"), (og_type, "genai_config.json model.type")):
        if kind is not None:
            if kind not in FAMILY_OF:
                raise ConfigError(f"{where}: {source} {kind!r} has no runtime family (known: "
                                  f"{', '.join(family_names())}); pass --family if the graphs follow one of them")
            result.sources["family"] = f"{source} {kind!r}"
            if source.startswith("genai") and kind == "gemma3":
                result.confirm.append("family gemma3 from genai_config.json: mmharness's own exports write gemma3 "
                                      "for every family; pass --family llava/idefics3/... if this is not Gemma 3")
            return FAMILY_OF[kind]
    raise ConfigError(f"{where}: no model type in config.json or genai_config.json; pass --family")


def _token(config: Mapping[str, Any], *keys: str) -> Any:
    """First of ``keys`` in ``config``, else in its ``text_config``."""
    for scope in (config, config.get("text_config") or {}):
        for key in keys:
            if scope.get(key) is not None:
                return scope[key]
    return None


def _static(tensor: Any, axis: int) -> int | None:
    return tensor.static_dims().get(axis) if tensor is not None else None


def _graph_io(directory: Path, graphs: Mapping[str, str]) -> dict[str, Any]:
    from harness.manifest.onnx_io import read_graph_io

    out = {}
    for role in ROLES:
        path = directory / graphs[role]
        if not path.is_file():
            raise ConfigError(f"{path}: the {role} graph is not there")
        out[role] = read_graph_io(str(path), str(directory))
    return out


def _alias(io: Any, contract: str, theirs: str, names: dict[str, str]) -> None:
    """An input another project names differently (transformers.js' Qwen2-VL ``grid_thw``): map it."""
    if contract not in names and io.input(contract) is None and io.input(theirs) is not None:
        names[contract] = theirs


def _only_output(io: Any, contract: str, names: dict[str, str]) -> None:
    """A graph with one output under another name than ours: map it (``vqa.io``)."""
    if contract not in names and io.output(contract) is None and len(io.outputs) == 1:
        names[contract] = io.outputs[0].name


def _features_rank(vision_io: Any, names: Mapping[str, str]) -> int | None:
    output = vision_io.output(names.get("image_features", "image_features"))
    return output.rank if output is not None else None


def _og_operations(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(type, attrs)`` of each operation of an onnxruntime-extensions ``processor_config.json``."""
    transforms = _json(path).get("processor", {}).get("transforms")
    if not isinstance(transforms, list) or not all(isinstance(t, dict) and isinstance(t.get("operation"), dict)
                                                     for t in transforms):
        raise ConfigError(f"{path}: processor.transforms: missing or not a list of {{\"operation\": ...}}; "
                          "save the pipeline onnxruntime-genai reads")
    return [(str(t["operation"].get("type")), dict(t["operation"].get("attrs") or {})) for t in transforms]


def og_preprocessor_config(path: Path) -> dict[str, Any]:
    """The transformers ``preprocessor_config.json`` equivalent of onnxruntime-genai's
    ``processor_config.json`` at ``path``, for the two pipelines mmharness exports write
    (docs/vlm-contract.md): Gemma 3's fixed-size one (DecodeImage, Resize to height x width,
    Rescale, Normalize, Permute3D [2, 0, 1]) and Qwen2-VL's (DecodeImage, ConvertRGB, smart
    Resize, Rescale, Normalize, PatchImage); any other is refused naming the operation."""
    ops = _og_operations(path)
    kinds = [kind for kind, _ in ops]
    attrs = dict(ops)
    fixed = ["DecodeImage", "Resize", "Rescale", "Normalize", "Permute3D"]
    patches = ["DecodeImage", "ConvertRGB", "Resize", "Rescale", "Normalize", "PatchImage"]
    optional = {"Rescale", "Normalize"}
    shape = [kind for kind in kinds if kind not in optional]
    if shape not in ([k for k in fixed if k not in optional], [k for k in patches if k not in optional]) or \
            len(set(kinds)) != len(kinds):
        raise ConfigError(f"{path}: processor.transforms: {kinds} is not a pipeline mmharness reproduces (Gemma 3's "
                          f"{fixed} or Qwen2-VL's {patches}); save the model's transformers {PREPROCESSOR} instead")
    resize = attrs["Resize"]
    interpolation = str(resize.get("interpolation", "CUBIC"))
    if interpolation not in OG_RESAMPLE:
        raise ConfigError(f"{path}: Resize.interpolation: {interpolation!r}, expected one of {sorted(OG_RESAMPLE)}")
    try:
        config: dict[str, Any] = {"resample": OG_RESAMPLE[interpolation], "do_resize": True, "do_convert_rgb": True,
                                  "do_rescale": "Rescale" in attrs,
                                  "rescale_factor": float(attrs.get("Rescale", {}).get("rescale_factor", 1 / 255)),
                                  "do_normalize": "Normalize" in attrs}
        if "Normalize" in attrs:
            config["image_mean"] = [float(v) for v in attrs["Normalize"]["mean"]]
            config["image_std"] = [float(v) for v in attrs["Normalize"]["std"]]
        if "PatchImage" in attrs:
            patch = attrs["PatchImage"]
            config.update({"image_processor_type": "Qwen2VLImageProcessor", "patch_size": int(patch["patch_size"]),
                           "merge_size": int(patch["merge_size"]),
                           "temporal_patch_size": int(patch.get("temporal_patch_size", 2)),
                           "size": {"shortest_edge": int(resize["min_pixels"]), "longest_edge": int(resize["max_pixels"])}})
            if not int(resize.get("smart_resize", 0)):
                raise ConfigError(f"{path}: Resize.smart_resize: not 1; Qwen2-VL's pipeline resizes to its own grid")
        else:
            if attrs["Permute3D"].get("dims") != [2, 0, 1] or int(resize.get("keep_aspect_ratio", 0)):
                raise ConfigError(f"{path}: Permute3D.dims / Resize.keep_aspect_ratio: expected [2, 0, 1] and 0 (a "
                                  "plain resize to height x width, channels first)")
            config.update({"image_processor_type": "Gemma3ImageProcessor", "do_pan_and_scan": False,
                           "size": {"height": int(resize["height"]), "width": int(resize["width"])}})
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: an operation lacks a usable attribute ({type(error).__name__}: {error}); save the "
                          f"model's transformers {PREPROCESSOR} instead") from None
    return config


def _processor_file(directory: Path, result: FolderInit) -> str:
    """The folder's transformers processor file, else one written from onnxruntime-genai's pipeline."""
    if (directory / PREPROCESSOR).is_file():
        return PREPROCESSOR
    if not (directory / OG_PROCESSOR).is_file():
        raise ConfigError(f"{directory / PREPROCESSOR}: not found; save the model's transformers image processor there "
                          f"(onnxruntime-genai's {OG_PROCESSOR} is not read unless it is a pipeline an mmharness export "
                          "writes, and this folder has none)")
    config = og_preprocessor_config(directory / OG_PROCESSOR)
    (directory / OG_DERIVED).write_text(json.dumps(config, indent=1) + "\n")
    result.written.append(directory / OG_DERIVED)
    result.sources["image"] = f"{OG_PROCESSOR} (onnxruntime-extensions), written as {OG_DERIVED}"
    result.confirm.append(f"image preprocessing from {OG_PROCESSOR} (written as {OG_DERIVED}): JPEG files decode "
                          "differently in onnxruntime-genai; save the transformers processor as "
                          f"{PREPROCESSOR} if the model has one")
    return OG_DERIVED


def _image_block(directory: Path, vision_io: Any, names: Mapping[str, str], result: FolderInit) -> dict[str, Any]:
    """``vqa.image`` from ``preprocessor_config.json`` (the runtime reproduces it), else from
    onnxruntime-genai's ``processor_config.json`` (``og_preprocessor_config``), and the vision inputs."""
    import numpy as np

    from harness.mllm.processors import preprocess

    file = _processor_file(directory, result)
    config = _json(directory / file)
    try:
        probe = preprocess([np.zeros((64, 64, 3), dtype=np.uint8)], config)
    except ManifestError as error:
        raise ConfigError(f"{directory / file}: {error}") from None
    scale = float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0
    mean, std = config.get("image_mean"), config.get("image_std")
    if not config.get("do_normalize", True):
        mean, std = [0.0] * 3, [1.0] * 3
    if not (isinstance(mean, list) and isinstance(std, list)):
        raise ConfigError(f"{directory / file}: image_mean/image_std: missing; add the model's values")
    mean, std = (mean * 3)[:3] if len(mean) == 1 else mean, (std * 3)[:3] if len(std) == 1 else std
    pixels = vision_io.input(names.get("pixel_values", "pixel_values"))
    if probe.image_grid_thw is not None:
        factor = int(config.get("patch_size", 14)) * int(config.get("merge_size", 2))
        shortest = int((config.get("size") or {}).get("shortest_edge", config.get("min_pixels", factor * factor)))
        side = math.ceil(math.sqrt(shortest) / factor) * factor
        layout, size = "patches", [side, side]
    else:
        layout = "1TCHW" if pixels is not None and pixels.rank == 5 else "NCHW"
        size = [int(probe.pixel_values.shape[2]), int(probe.pixel_values.shape[3])]
    known = {names.get(n, n) for n in ("pixel_values", "image_grid_thw")}
    masks = [t.name for t in vision_io.inputs if t.name not in known]
    return {"layout": layout, "size": size, "scale": scale, "mean": [float(v) for v in mean],
            "std": [float(v) for v in std], "pixel_attention_mask": masks[0] if masks else None,
            "processor": file}


def _tokens_per_image(directory: Path, graphs: Mapping[str, str], image: Mapping[str, Any], names: Mapping[str, str]) -> int:
    """Feature rows of one view of an image: the vision graph run once on a black image
    (fixed-size families), divided by the views the processor made of it (a splitting processor
    turns it into several tiles, each of ``tokens_per_image`` rows)."""
    if image["layout"] == "patches":
        return 1  # a lower bound: each image counts its own grid
    import numpy as np
    import onnxruntime as ort

    from harness.mllm.manifest import _image_spec
    from harness.mllm.preprocess import vision_feeds

    spec = _image_spec(image, directory, str(directory / "manifest.json"))
    feeds = vision_feeds([np.zeros((*spec.size, 3), dtype=np.uint8)], spec)
    session = ort.InferenceSession(str(directory / graphs["vision"]), providers=["CPUExecutionProvider"])
    output = names.get("image_features", "image_features")
    rows = session.run([output], {names.get(k, k): v for k, v in feeds.items()})[0]
    pixels = feeds["pixel_values"]
    views = pixels.shape[1] if image["layout"] == "1TCHW" else pixels.shape[0]
    return int(np.asarray(rows).reshape(-1, rows.shape[-1]).shape[0]) // int(views)


def _layout(directory: Path, options: FolderOptions, genai: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """Layout name, graph files, ``vqa.io`` renames and KV name patterns of the folder."""
    if genai:
        if options.variant is not None:
            raise ConfigError("--variant: only for transformers.js folders (onnx/*_<variant>.onnx); genai_config.json "
                              "names one set of graphs")
        return ("onnxruntime-genai", *_og_graphs(directory, genai))
    if (directory / "onnx").is_dir():
        return "transformers.js", _tjs_graphs(directory, options.variant), {role: {} for role in ROLES}, {}
    raise ConfigError(f"{directory}: neither genai_config.json nor onnx/vision_encoder*.onnx; pass a folder of "
                      "either layout, or PATH.onnx for a segmentation graph")


def _decoder_fields(decoder: Any, file: Path, names: Mapping[str, str], kv_names: Mapping[str, str],
                    text: Mapping[str, Any], vocab: Any) -> dict[str, Any]:
    """``kv_cache``, ``hidden_size`` and ``vocab_size`` from the decoder graph (the config for a dynamic axis)."""
    kv = {"past_key": "past_key_values.%d.key", "past_value": "past_key_values.%d.value",
          "present_key": "present.%d.key", "present_value": "present.%d.value", **kv_names}
    layers = 0
    while decoder.input(kv["past_key"] % layers) is not None:
        layers += 1
    if layers == 0:
        raise ConfigError(f"{file}: no KV-cache input {kv['past_key'] % 0!r}; the decoder needs an explicit past "
                          "(docs/vlm-contract.md)")
    past = decoder.input(kv["past_key"] % 0)
    hidden = _static(decoder.input(names.get("inputs_embeds", "inputs_embeds")), 2) or text.get("hidden_size")
    kv_heads = _static(past, 1) or text.get("num_key_value_heads")
    head_dim = _static(past, 3) or text.get("head_size") or text.get("head_dim")
    for value, what in ((hidden, "hidden_size"), (kv_heads, "num_key_value_heads"), (head_dim, "head_dim")):
        if not isinstance(value, int):
            raise ConfigError(f"{file}: {what}: neither the decoder graph nor the config fixes it; add it to the config")
    vocab = _static(decoder.output(names.get("logits", "logits")), 2) or vocab
    return {
        "hidden_size": int(hidden),  # type: ignore[arg-type]
        **({"vocab_size": int(vocab)} if isinstance(vocab, int) else {}),
        "kv_cache": {"num_layers": layers, "num_kv_heads": int(kv_heads), "head_dim": int(head_dim),  # type: ignore[arg-type]
                     "dtype": "float16" if str(past.dtype) == "float16" else "float32",
                     "layout": "batch,kv_heads,seq,head_dim", **kv},
    }


def _token_fields(directory: Path, config: Mapping[str, Any], config_name: str) -> dict[str, Any]:
    """Image token, BOS, EOS (every EOS id stops) and pad ids: the config, then ``generation_config.json``."""
    generation = _json(directory / "generation_config.json", required=False)
    image, bos, eos, pad = (_token(config, *keys) for keys in (("image_token_id", "image_token_index"),
                                                               ("bos_token_id",), ("eos_token_id",), ("pad_token_id",)))
    bos = bos if bos is not None else generation.get("bos_token_id")
    eos = eos if eos is not None else generation.get("eos_token_id")
    for value, key in ((image, "image_token_id"), (bos, "bos_token_id"), (eos, "eos_token_id")):
        if value is None:
            raise ConfigError(f"{directory}: {config_name}: {key}: missing; add the model's {key}")
    stops = sorted({int(v) for v in (eos if isinstance(eos, list) else [eos])})
    return {"image_token_id": int(image), "bos_token_id": int(bos), "eos_token_id": stops[0],
            **({"pad_token_id": int(pad)} if pad is not None else {}), "stop_token_ids": stops}


def init_vlm_folder(directory: str | Path, options: FolderOptions) -> FolderInit:
    """Infer, write and validate ``DIR/manifest.json`` (task ``vqa``) for an existing VLM folder."""
    directory = Path(directory).resolve()
    target = directory / "manifest.json"
    if target.exists() and not options.force:
        raise ConfigError(f"{target}: exists; pass --force to replace it")
    if options.answer_mode not in ("choices", "generate"):
        raise ConfigError(f"--answer-mode {options.answer_mode!r}: expected choices or generate")
    hf = _json(directory / "config.json", required=False)
    genai = _json(directory / "genai_config.json", required=False)
    layout, graphs, io, kv_names = _layout(directory, options, genai)
    result = FolderInit(target, layout, {})
    try:
        _infer(result, directory, options, hf, genai, graphs, io, kv_names)
    except BaseException:
        for path in result.written:  # nothing init wrote stays behind a failure
            path.unlink(missing_ok=True)
        raise
    return result


def _infer(result: FolderInit, directory: Path, options: FolderOptions, hf: dict[str, Any], genai: dict[str, Any],
           graphs: dict[str, str], io: dict[str, dict[str, str]], kv_names: dict[str, str]) -> None:
    """The manifest of ``init_vlm_folder``'s folder, written into ``result`` and checked."""
    layout = result.layout
    og_model = genai.get("model", {})
    family = _family(options, hf.get("model_type"), og_model.get("type"), str(directory), result)
    graph_io = _graph_io(directory, graphs)
    _alias(graph_io["vision"], "image_grid_thw", "grid_thw", io["vision"])
    _only_output(graph_io["vision"], "image_features", io["vision"])
    _only_output(graph_io["embedding"], "inputs_embeds", io["embedding"])
    if not (directory / "tokenizer.json").is_file():
        raise ConfigError(f"{directory / 'tokenizer.json'}: not found; save the model's tokenizer (tokenizers JSON) beside the graphs")

    decoder = graph_io["decoder"]
    text = og_model.get("decoder", {}) if genai else (hf.get("text_config") or hf)
    image = _image_block(directory, graph_io["vision"], io["vision"], result)
    merge = "graph" if graph_io["embedding"].input(io["embedding"].get("image_features", "image_features")) else "runtime"
    attention = ATTENTION_OF.get(family, "causal") if decoder.input("attention_groups") is not None else "causal"
    if attention == "causal" and family in ATTENTION_OF:
        result.confirm.append(f"the decoder has no attention_groups input: image tokens attend causally, not by "
                              f"{family}'s {ATTENTION_OF[family]} rule as transformers applies it")
    template = options.prompt_template or DEFAULT_TEMPLATE
    if options.prompt_template is None:
        result.confirm.append(f"prompt template {template!r} (default): pass --prompt-template with the model's own")
    vqa_io = {role: names for role, names in io.items() if names}
    vqa = {
        "family": family,
        "attention": attention,
        **({"hf_model_type": hf["model_type"]} if isinstance(hf.get("model_type"), str) else {}),
        "tokenizer": "tokenizer.json",
        **_token_fields(directory, og_model if genai else hf, "genai_config.json model" if genai else "config.json"),
        "tokens_per_image": _tokens_per_image(directory, graphs, image, io["vision"]),
        "prompt_template": template,
        "answer_mode": options.answer_mode,
        "image": image,
        **_decoder_fields(decoder, directory / graphs["decoder"], io["decoder"], kv_names, text,
                          _token(hf, "vocab_size") or og_model.get("vocab_size")),
        "merge": merge,
        "origin": "init",
        **({"features_rank": 3} if _features_rank(graph_io["vision"], io["vision"]) == 3 else {}),
        **({"io": vqa_io} if vqa_io else {}),
    }
    checksums = {name: file_sha256(directory / name) for name in (*graphs.values(), "tokenizer.json", image["processor"])}
    result.manifest = {
        "schema_version": 1, "name": options.name or re.sub(r"[^A-Za-z0-9._+-]", "-", directory.name).lstrip("._+-") or "vlm",
        "task": "vqa", "graphs": graphs, "vqa": vqa,
        "provenance": {"exporter": f"mmharness init ({layout} folder)", "source": str(directory),
                       "sha256": {role: checksums[name] for role, name in graphs.items()}},
        "checksums": checksums, "parity": {},
    }
    _write_checked(result)


def _write_checked(result: FolderInit) -> None:
    """Write the manifest, then hold it to the same checks as an export; nothing stays on failure."""
    from harness.manifest import load_manifest
    from harness.manifest.contract import validate_against_graph

    previous = result.manifest_path.read_bytes() if result.manifest_path.exists() else None
    result.manifest_path.write_text(json.dumps(result.manifest, indent=1) + "\n")
    try:
        validate_against_graph(load_manifest(result.manifest_path.parent))
    except ManifestError:
        if previous is None:
            result.manifest_path.unlink()
        else:
            result.manifest_path.write_bytes(previous)
        raise
