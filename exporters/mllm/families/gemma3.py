"""Gemma 3 (``Gemma3ForConditionalGeneration``): SigLIP tower, projector average-pooled to
``mm_tokens_per_image`` soft tokens per image, Gemma 3 text model with sliding layers.

transformers lets each contiguous run of image tokens attend to itself bidirectionally when
``token_type_ids`` marks them (its processor always does): ``attention = "image_blocks"``, and
parity passes the same ``token_type_ids`` to ``generate``.
"""

from __future__ import annotations

from typing import Any


from exporters.mllm.families.base import Family, export_image_features, fixed_size_spec
from harness.errors import ConfigError


def _check(model: Any) -> None:
    if str(model.config.vision_config.model_type) != "siglip_vision_model":
        raise ConfigError(f"Gemma 3 vision_config.model_type {model.config.vision_config.model_type!r}: only a SigLIP "
                          "tower is supported")
    if getattr(model.config.text_config, "use_bidirectional_attention", False):
        raise ConfigError("Gemma 3 text_config.use_bidirectional_attention: true (an encoder) cannot generate; "
                          "export a generative checkpoint")


def _image_processor(model: Any) -> Any:
    from transformers import Gemma3ImageProcessor

    size = int(model.config.vision_config.image_size)
    return Gemma3ImageProcessor(size={"height": size, "width": size}, do_pan_and_scan=False)


PAN_AND_SCAN = ("do_pan_and_scan", "pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops",
                "pan_and_scan_min_ratio_to_activate")


def _hf_processor(model: Any, export_dir: Any, spec: Any) -> tuple[Any, str]:
    """transformers' ``Gemma3Processor`` over the export's tokenizer.json and image processor
    (``image_seq_length`` = soft tokens per view), and its placeholder ``<start_of_image>``.
    ``Gemma3Processor`` passes its own pan-and-scan defaults (off) to the image processor unless
    the call gives them, so the export's own settings become this processor's defaults."""
    from pathlib import Path

    from tokenizers import Tokenizer
    from transformers import Gemma3Processor

    from exporters.mllm.parity import hf_image_processor, hf_tokenizer

    images = hf_image_processor(export_dir)
    image_token = Tokenizer.from_file(str(Path(export_dir) / "tokenizer.json")).id_to_token(int(spec.image_token_id))
    tokenizer = hf_tokenizer(export_dir, {"image_token": image_token, "boi_token": "<start_of_image>",
                                          "eoi_token": "<end_of_image>"})
    processor = Gemma3Processor(image_processor=images, tokenizer=tokenizer, image_seq_length=int(spec.tokens_per_image))
    own = {name: getattr(images, name) for name in PAN_AND_SCAN if getattr(images, name, None) is not None}
    processor.images_kwargs = {**Gemma3Processor.images_kwargs, **own}
    return processor, "<start_of_image>"


FAMILY = Family(
    name="gemma3",
    architectures=("Gemma3ForConditionalGeneration",),
    language_model=lambda model: model.model.language_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=export_image_features,
    image_spec=lambda model, processor: fixed_size_spec(model, processor, "gemma3 image processor"),
    tokens_per_image=lambda model: int(model.config.mm_tokens_per_image),
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
    check=_check,
    attention="image_blocks",
    image_processor=_image_processor,
    hf_generate_kwargs=lambda model, ids: {"token_type_ids": (ids == int(model.config.image_token_id)).long()},
    hf_processor=_hf_processor,
)

