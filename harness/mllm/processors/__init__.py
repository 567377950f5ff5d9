"""Processor-exact image preprocessing: one module per transformers image processor, chosen by
the exported ``preprocessor_config.json``'s ``image_processor_type`` (a ``...Pil`` or ``...Fast``
suffix names the same processor). A processor joins by adding a module defining ``PROCESSOR``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ManifestError
from harness.mllm.processors.base import CONFIG, Image, ImageProcessor, Processed
from harness.registry import Registry, register_modules

_REGISTRY: Registry[ImageProcessor] = Registry("image processor")
_BY_TYPE: dict[str, ImageProcessor] = {}


def processor_for(config: Mapping[str, Any]) -> ImageProcessor:
    """The processor reproducing ``config`` (a preprocessor_config.json), by its type."""
    if not _BY_TYPE:
        register_modules(_REGISTRY, __name__, "PROCESSOR")
        for name in _REGISTRY.names():
            _BY_TYPE.update({kind: _REGISTRY.get(name) for kind in _REGISTRY.get(name).types})
    kind = str(config.get("image_processor_type", ""))
    for suffix in ("Pil", "Fast"):
        kind = kind.removesuffix(suffix)
    if kind not in _BY_TYPE:
        raise ManifestError(f"{CONFIG}: image_processor_type: {config.get('image_processor_type')!r} is not supported "
                            f"(supported: {', '.join(sorted(_BY_TYPE))})")
    return _BY_TYPE[kind]


def preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    """Raw HWC uint8 RGB images -> what transformers' processor of ``config`` gives."""
    return processor_for(config).preprocess(images, config)
