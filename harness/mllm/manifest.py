"""The ``vqa`` block of a ``task: "vqa"`` manifest: its JSON Schema, loader and typed value.

The block says everything the runtime needs and the graphs cannot: tokenizer file, image
token id and count, prompt template, image preprocessing, KV-cache layout, answer mode. The
top-level manifest (``graphs``, ``provenance``) is the manifest module's; this module checks
only what an MLLM adds, and every error names ``manifest.json: vqa.<field>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ManifestError
from harness.paths import confined
from harness.safeload import json_loads

VQA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "family", "tokenizer", "image_token_id", "tokens_per_image", "prompt_template",
        "bos_token_id", "eos_token_id", "answer_mode", "image", "kv_cache", "hidden_size",
    ],
    "properties": {
        "family": {"type": "string", "minLength": 1},  # checked against harness.mllm.families
        "attention": {"enum": ["causal", "image_blocks", "prefix"]},
        "architecture": {"type": "string"},
        "hf_model_type": {"type": "string"},
        "og_model_type_surrogate": {"enum": ["gemma3", "qwen2_5_vl"]},
        "tokenizer": {"type": "string", "minLength": 1},
        "image_token": {"type": "string"},
        "image_token_id": {"type": "integer", "minimum": 0},
        "tokens_per_image": {"type": "integer", "minimum": 1},
        "prompt_template": {"type": "string"},
        # what {image} expands to: "plain", every image's image tokens in one run (markers in the template);
        # "family", each image's whole block as transformers' processor writes it (docs/manifest.md)
        "image_block": {"enum": ["plain", "family"]},
        "add_bos": {"type": "boolean"},
        "bos_token_id": {"type": "integer", "minimum": 0},
        "eos_token_id": {"type": "integer", "minimum": 0},
        "pad_token_id": {"type": "integer", "minimum": 0},
        "stop_token_ids": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "max_new_tokens": {"type": "integer", "minimum": 1},
        "answer_mode": {"enum": ["choices", "generate"]},
        "missing_image": {"enum": ["no_image_tokens", "blank"]},
        "hidden_size": {"type": "integer", "minimum": 1},
        "vocab_size": {"type": "integer", "minimum": 1},
        "chance_level": {"type": "number", "minimum": 0, "maximum": 1},
        # a folder not exported by us (`mmharness init DIR`): where the image features are merged, and
        # per role the folder's tensor name for each contract name that differs (docs/manifest.md)
        "merge": {"enum": ["graph", "runtime"]},
        # init: the graphs run on ONNX Runtime as they are (any opset, com.microsoft ops allowed)
        "origin": {"enum": ["export", "init"]},
        "features_rank": {"enum": [2, 3]},  # 3: the vision graph gives [images, tokens, hidden] (transformers.js)
        "io": {
            "type": "object",
            "additionalProperties": False,
            "properties": {role: {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}
                           for role in ("vision", "embedding", "decoder")},
        },
        "image": {
            "type": "object",
            "additionalProperties": False,
            # patches (dynamic resolution, Qwen2-VL): size is nominal (images the harness draws); the processor sizes each image
            "required": ["layout", "size", "scale", "mean", "std"],
            "properties": {
                "layout": {"enum": ["NCHW", "1TCHW", "patches"]},
                "size": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
                "resize": {"enum": ["bilinear", "nearest"]},
                "scale": {"type": "number", "exclusiveMinimum": 0},
                "mean": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
                "std": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 3, "maxItems": 3},
                "pixel_attention_mask": {"type": ["string", "null"]},
                "processor": {"type": "string", "minLength": 1},
            },
        },
        "kv_cache": {
            "type": "object",
            "additionalProperties": False,
            "required": ["num_layers", "num_kv_heads", "head_dim"],
            "properties": {
                "num_layers": {"type": "integer", "minimum": 1},
                "num_kv_heads": {"type": "integer", "minimum": 1},
                "head_dim": {"type": "integer", "minimum": 1},
                "dtype": {"enum": ["float32", "float16"]},
                "layout": {"const": "batch,kv_heads,seq,head_dim"},
                "past_key": {"type": "string"},
                "past_value": {"type": "string"},
                "present_key": {"type": "string"},
                "present_value": {"type": "string"},
            },
        },
    },
}

AnswerMode = Literal["choices", "generate"]


@dataclass(frozen=True)
class ImageSpec:
    """How a raw HWC uint8 image becomes the vision graph's ``pixel_values``."""

    layout: str
    size: tuple[int, int]
    resize: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pixel_attention_mask: str | None
    processor: dict[str, Any] | None = None  # preprocessor_config.json as exported (harness.mllm.processors)


@dataclass(frozen=True)
class KvSpec:
    """KV-cache layout of the decoder graph: ``[batch, num_kv_heads, seq, head_dim]`` per layer."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    dtype: str
    past_key: str
    past_value: str
    present_key: str
    present_value: str

    def past_names(self) -> list[str]:
        return [name % i for i in range(self.num_layers) for name in (self.past_key, self.past_value)]

    def present_names(self) -> list[str]:
        return [name % i for i in range(self.num_layers) for name in (self.present_key, self.present_value)]


@dataclass(frozen=True)
class VqaSpec:
    """The typed ``vqa`` block plus the model directory and graph paths it belongs to."""

    model_dir: Path
    graphs: dict[str, Path]
    raw_graphs: dict[str, str]
    family: str
    attention: str
    tokenizer: Path
    image_token_id: int
    tokens_per_image: int
    prompt_template: str
    add_bos: bool
    bos_token_id: int
    eos_token_id: int
    pad_token_id: int
    stop_token_ids: tuple[int, ...]
    max_new_tokens: int
    answer_mode: AnswerMode
    missing_image: str
    hidden_size: int
    chance_level: float | None
    image: ImageSpec
    kv: KvSpec
    raw: dict[str, Any]
    merge: str = "graph"  # "runtime": the embedding graph embeds tokens only; the runtime scatters the features
    io: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # role -> contract name -> graph name
    image_block: str | None = None  # None: absent, the family's default (RuntimeFamily.uses_blocks)


def _schema_error(where: str, error: Any) -> ManifestError:
    path = ".".join(["vqa", *(str(part) for part in error.absolute_path)])
    return ManifestError(f"{where}: {path}: {error.message}; see docs/manifest.md (vqa block)")


def parse_vqa_block(block: Any, model_dir: Path, graphs: dict[str, str], where: str) -> VqaSpec:
    """Validate ``block`` against ``VQA_SCHEMA`` and resolve files; ``where`` names manifest.json."""
    _check_block(block, where)
    template = block["prompt_template"]
    tokenizer = confined(model_dir, block["tokenizer"], f"{where}: vqa.tokenizer", ManifestError)
    if not tokenizer.is_file():
        raise ManifestError(f"{where}: vqa.tokenizer: file {tokenizer} not found; export the tokenizer.json beside the graphs")
    resolved = _resolve_graphs(model_dir, graphs, where)
    return VqaSpec(
        model_dir=model_dir,
        graphs=resolved,
        raw_graphs=dict(graphs),
        family=block["family"],
        attention=block.get("attention", "causal"),
        tokenizer=tokenizer,
        image_token_id=block["image_token_id"],
        tokens_per_image=block["tokens_per_image"],
        prompt_template=template,
        add_bos=block.get("add_bos", True),
        bos_token_id=block["bos_token_id"],
        eos_token_id=block["eos_token_id"],
        pad_token_id=block.get("pad_token_id", 0),
        stop_token_ids=tuple(block.get("stop_token_ids", [block["eos_token_id"]])),
        max_new_tokens=block.get("max_new_tokens", 16),
        answer_mode=block["answer_mode"],
        missing_image=block.get("missing_image", "no_image_tokens"),
        hidden_size=block["hidden_size"],
        chance_level=block.get("chance_level"),
        image=_image_spec(block["image"], model_dir, where),
        kv=_kv_spec(block["kv_cache"]),
        raw=dict(block),
        merge=block.get("merge", "graph"),
        io={role: dict(names) for role, names in block.get("io", {}).items()},
        image_block=block.get("image_block"),
    )


def _check_block(block: Any, where: str) -> None:
    """Schema first (first error by path, so the message is stable), then what a schema cannot
    say: the prompt template carries both placeholders."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(VQA_SCHEMA)
    errors = sorted(validator.iter_errors(block), key=lambda e: list(e.absolute_path))
    if errors:
        raise _schema_error(where, errors[0])
    from harness.mllm.families import family_names

    if block["family"] not in family_names():
        raise ManifestError(f"{where}: vqa.family: {block['family']!r} is not a known family (known: "
                            f"{', '.join(family_names())}); re-export with `mmharness export mllm`")
    template = block["prompt_template"]
    for placeholder, what in (("{image}", "the image token placeholder"), ("{question}", "the question placeholder")):
        if placeholder not in template:
            raise ManifestError(
                f"{where}: vqa.prompt_template {template!r}: {what} {placeholder} is absent; add it "
                "(e.g. \"{image} {question} answer :\")"
            )


def _resolve_graphs(model_dir: Path, graphs: Mapping[str, str], where: str) -> dict[str, Path]:
    """The three VQA graph files, resolved and required to exist inside the model directory."""
    resolved: dict[str, Path] = {}
    for role in ("vision", "embedding", "decoder"):
        if role not in graphs:
            raise ManifestError(f"{where}: graphs.{role}: missing; a vqa model needs vision, embedding and decoder graphs")
        path = (model_dir / graphs[role]).resolve()
        if model_dir.resolve() not in path.parents:
            raise ManifestError(f"{where}: graphs.{role}: {graphs[role]!r} points outside the model directory")
        if not path.is_file():
            raise ManifestError(f"{where}: graphs.{role}: file {path} not found")
        resolved[role] = path
    return resolved


def _processor_config(model_dir: Path, name: str | None, where: str) -> dict[str, Any] | None:
    """``vqa.image.processor``: the exported ``preprocessor_config.json``, read with the hardened loader."""
    if name is None:
        return None
    path = confined(model_dir, name, f"{where}: vqa.image.processor", ManifestError)
    try:
        config = json_loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{where}: vqa.image.processor: file {path} not found; re-export the model") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ManifestError(f"{where}: vqa.image.processor: {path} is not valid JSON ({str(error).splitlines()[0]}); "
                            "re-export the model") from None
    if not isinstance(config, dict):
        raise ManifestError(f"{where}: vqa.image.processor: {path} holds {type(config).__name__}, expected an object")
    return config


def _image_spec(image: Mapping[str, Any], model_dir: Path, where: str) -> ImageSpec:
    """``vqa.image`` (schema-checked) with its defaults filled in."""
    return ImageSpec(
        layout=image["layout"],
        size=(image["size"][0], image["size"][1]),
        resize=image.get("resize", "bilinear"),
        scale=float(image["scale"]),
        mean=tuple(image["mean"]),  # type: ignore[arg-type]
        std=tuple(image["std"]),  # type: ignore[arg-type]
        pixel_attention_mask=image.get("pixel_attention_mask"),
        processor=_processor_config(model_dir, image.get("processor"), where),
    )


def _kv_spec(kv: Mapping[str, Any]) -> KvSpec:
    """``vqa.kv_cache`` (schema-checked) with the Hugging Face tensor-name defaults filled in."""
    return KvSpec(
        num_layers=kv["num_layers"],
        num_kv_heads=kv["num_kv_heads"],
        head_dim=kv["head_dim"],
        dtype=kv.get("dtype", "float32"),
        past_key=kv.get("past_key", "past_key_values.%d.key"),
        past_value=kv.get("past_value", "past_key_values.%d.value"),
        present_key=kv.get("present_key", "present.%d.key"),
        present_value=kv.get("present_value", "present.%d.value"),
    )


def load_vqa_spec(model_dir: str | Path) -> VqaSpec:
    """Read ``<model_dir>/manifest.json`` and return its checked ``vqa`` block."""
    directory = Path(model_dir)
    path = directory / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"{path}: not found; a model directory needs a manifest.json: `mmharness export mllm`, or "
                            f"`mmharness init {directory}` for an onnxruntime-genai or transformers.js folder")
    try:
        manifest = json_loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: line {error.lineno}: invalid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ManifestError(f"{path}: refused ({str(error).splitlines()[0]}); re-export the model") from None
    if not isinstance(manifest, dict) or manifest.get("task") != "vqa":
        task = manifest.get("task") if isinstance(manifest, dict) else None
        raise ManifestError(f"{path}: task: expected 'vqa' for an MLLM, got {task!r}; use `mmharness run` for segmentation")
    if "vqa" not in manifest:
        raise ManifestError(f"{path}: vqa: missing; a task 'vqa' manifest needs the vqa block (docs/vlm-contract.md)")
    graphs = manifest.get("graphs")
    if not isinstance(graphs, dict):
        raise ManifestError(f"{path}: graphs: expected an object role -> file, got {type(graphs).__name__}")
    return parse_vqa_block(manifest["vqa"], directory, graphs, str(path))


# ---- graph I/O against the three-graph contract (docs/vlm-contract.md) ------------------------


@dataclass(frozen=True)
class TensorRule:
    """One tensor a graph must have: dtype kind, rank, fixed dims, and the manifest field that
    names it (so a mismatch says which field or which re-export fixes it)."""

    name: str
    dtypes: tuple[str, ...]
    rank: int
    dims: tuple[tuple[int, int], ...]  # (axis, size) pairs that must match when the graph fixes the axis
    field: str


def patch_rules(spec: VqaSpec) -> list[TensorRule]:
    """Vision inputs of the ``patches`` layout (Qwen2-VL, docs/vlm-contract.md): flattened patch rows
    and each image's ``(t, h, w)`` grid."""
    config = spec.image.processor or {}
    try:
        width = 3 * int(config.get("temporal_patch_size", 2)) * int(config.get("patch_size", 14)) ** 2
    except (TypeError, ValueError):
        raise ManifestError("preprocessor_config.json: patch_size/temporal_patch_size: not integers; re-export the model") from None
    return [TensorRule("pixel_values", (spec.kv.dtype,), 2, ((1, width),), "vqa.image.processor"),
            TensorRule("image_grid_thw", ("int64",), 2, ((1, 3),), "vqa.image.layout")]


def graph_rules(spec: VqaSpec) -> dict[str, tuple[tuple[TensorRule, ...], tuple[TensorRule, ...]]]:
    """Per role: the exact inputs the runtime feeds and the outputs it reads, per the ``vqa`` block."""
    from harness.mllm.families import runtime_family

    float_dt, hidden, kv = (spec.kv.dtype,), spec.hidden_size, spec.kv
    height, width = spec.image.size
    pixel_axes = (2, 3) if spec.image.layout == "NCHW" else (3, 4)
    vision_in = [TensorRule("pixel_values", float_dt, 4 if spec.image.layout == "NCHW" else 5,
                            ((pixel_axes[0] - 1, 3), (pixel_axes[0], height), (pixel_axes[1], width)), "vqa.image")]
    if spec.image.pixel_attention_mask:
        vision_in.append(TensorRule(spec.image.pixel_attention_mask, ("bool",), 4, ((2, height), (3, width)),
                                    "vqa.image.pixel_attention_mask"))
    if spec.image.layout == "patches":
        vision_in = patch_rules(spec)
    rank = runtime_family(spec.family).position_rank  # 3: mRoPE [3, batch, seq]
    positions = TensorRule("position_ids", ("int64",), rank, ((0, 3),) if rank == 3 else (),
                           "vqa.family" if rank == 3 else "graphs.decoder")
    cache = ((1, kv.num_kv_heads), (3, kv.head_dim))
    past = [TensorRule(name, float_dt, 4, cache, "vqa.kv_cache") for name in kv.past_names()]
    present = [TensorRule(name, float_dt, 4, cache, "vqa.kv_cache") for name in kv.present_names()]
    groups = [] if spec.attention == "causal" else [TensorRule("attention_groups", ("int64",), 2, (), "vqa.attention")]
    vocab = spec.raw.get("vocab_size")
    rank_out = spec.raw.get("features_rank", 2)
    logits_dims = ((2, vocab),) if isinstance(vocab, int) else ()
    return {
        "vision": (tuple(vision_in), (TensorRule("image_features", float_dt, rank_out, ((rank_out - 1, hidden),),
                                                 "vqa.hidden_size"),)),
        "embedding": (
            (TensorRule("input_ids", ("int64",), 2, (), "graphs.embedding"),
             *([TensorRule("image_features", float_dt, 2, ((1, hidden),), "vqa.hidden_size")]
               if spec.merge == "graph" else [])),
            (TensorRule("inputs_embeds", float_dt, 3, ((2, hidden),), "vqa.hidden_size"),),
        ),
        "decoder": (
            (TensorRule("inputs_embeds", float_dt, 3, ((2, hidden),), "vqa.hidden_size"),
             TensorRule("attention_mask", ("int64",), 2, (), "graphs.decoder"),
             positions, *past, *groups),
            (TensorRule("logits", ("float32", "float16"), 3, logits_dims, "vqa.vocab_size"), *present),
        ),
    }


def _check_tensor(rule: TensorRule, tensor: Any, file: str, direction: str, where: str) -> None:
    problem = None
    if str(tensor.dtype) not in rule.dtypes:
        problem = f"dtype {tensor.dtype}, expected {' or '.join(rule.dtypes)}"
    elif tensor.rank != rule.rank:
        problem = f"rank {tensor.rank} {list(tensor.shape)}, expected rank {rule.rank}"
    else:
        fixed = tensor.static_dims()
        wrong = [(axis, size) for axis, size in rule.dims if axis in fixed and fixed[axis] != size]
        if wrong:
            problem = f"shape {list(tensor.shape)}, expected {wrong[0][1]} at axis {wrong[0][0]}"
    if problem:
        raise ManifestError(f"{where}: {rule.field}: {file} {direction} {rule.name!r} has {problem}; "
                            "fix the manifest field or re-export with `mmharness export mllm`")


OPSETS = (17, 18)  # docs/vlm-contract.md: standard ai.onnx ops only, opset 17-18


def _check_opsets(opsets: Mapping[str, int], file: str, role: str, where: str) -> None:
    for domain, version in opsets.items():
        if domain not in ("", "ai.onnx"):
            raise ManifestError(f"{where}: graphs.{role}: {file} imports operator domain {domain!r}; the three-graph "
                                "contract allows ai.onnx ops only (docs/vlm-contract.md); re-export with standard ops")
        if version not in OPSETS:
            raise ManifestError(f"{where}: graphs.{role}: {file} has ai.onnx opset {version}, expected "
                                f"{OPSETS[0]}-{OPSETS[-1]}; re-export with `mmharness export mllm`")


def _renamed(rules: tuple[TensorRule, ...], names: Mapping[str, str]) -> tuple[TensorRule, ...]:
    return tuple(TensorRule(names.get(r.name, r.name), r.dtypes, r.rank, r.dims,
                            "vqa.io" if r.name in names else r.field) for r in rules)


def check_vqa_graphs(spec: VqaSpec, graphs: Mapping[str, Any], where: str) -> list[tuple[str, Any]]:
    """Every input of the three graphs is claimed by the contract and every claimed tensor exists
    with the declared dtype/rank/dims; returns the claimed ``(role, input TensorSpec)`` pairs.

    ``graphs`` maps a role to anything with ``inputs``/``outputs`` of ``TensorSpec``s: the graph
    I/O ``mmharness validate`` reads from the files, or the open ``Session``s of any backend
    (``harness.mllm.sessions.open_runtime`` checks those before the first run).
    """
    claimed: list[tuple[str, Any]] = []
    for role, (inputs, outputs) in graph_rules(spec).items():
        io = graphs.get(role)
        if io is None:
            continue
        file = spec.raw_graphs[role]
        names = spec.io.get(role, {})  # vqa.io: the folder's name for a contract tensor
        inputs, outputs = _renamed(inputs, names), _renamed(outputs, names)
        if getattr(io, "opsets", None) is not None and spec.raw.get("origin", "export") == "export":  # files carry opsets
            _check_opsets(io.opsets, file, role, where)
        wanted = {rule.name for rule in inputs}
        extra = [t.name for t in io.inputs if t.name not in wanted]
        if extra:
            raise ManifestError(
                f"{where}: graphs.{role}: {file} input {extra[0]!r} is not claimed by the vqa contract (the runtime feeds "
                f"only {sorted(wanted)}); re-export without it (docs/vlm-contract.md: no use_cache_branch, no num_logits_to_keep)"
            )
        for direction, rules, tensors in (("input", inputs, io.inputs), ("output", outputs, io.outputs)):
            by_name = {t.name: t for t in tensors}
            for rule in rules:
                if rule.name not in by_name:
                    raise ManifestError(
                        f"{where}: {rule.field}: {file} has no {direction} {rule.name!r} "
                        f"({direction}s: {', '.join(by_name) or 'none'}); fix the field or re-export"
                    )
                _check_tensor(rule, by_name[rule.name], file, direction, where)
                if direction == "input":
                    claimed.append((role, by_name[rule.name]))
    return claimed
