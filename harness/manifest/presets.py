"""Named conventions a manifest can be written from: normalisation presets, class lists and
the modality kind an input name suggests.

Shared by ``mmharness init`` and the exporters, so "ImageNet mean/std" and "DELIVER's
classes" are spelled out once.
"""

from __future__ import annotations

import json
import re
from importlib import import_module
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

IMAGENET_MEAN: tuple[float, ...] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, ...] = (0.229, 0.224, 0.225)
KINDS: tuple[str, ...] = ("image", "depth", "lidar", "event", "thermal")

# a token of an input name (split at non-letters and camelCase) -> the modality kind it suggests
KIND_TOKENS: dict[str, str] = {
    "rgb": "image", "img": "image", "image": "image", "images": "image", "camera": "image",
    "depth": "depth", "hha": "depth", "disparity": "depth",
    "lidar": "lidar", "range": "lidar",
    "event": "event", "events": "event", "evt": "event",
    "thermal": "thermal", "ir": "thermal", "lwir": "thermal",
}  # fmt: skip

PRESETS: dict[str, str] = {
    "deliver": "x/255 then ImageNet mean/std on every modality (DELIVER's val transform)",
    "imagenet": "x/255 then ImageNet mean/std on image inputs, x/255 only on the others",
    "none": "identity (raw values; the graph normalises inside)",
}
CLASS_PRESETS: tuple[str, ...] = ("deliver", "cityscapes")  # modules of harness.data with CLASSES


def name_tokens(name: str) -> list[str]:
    """``thermal_IR``, ``rgbImage:0`` -> ``[thermal, ir]``, ``[rgb, image]`` (lower-case words)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [token.lower() for token in re.split(r"[^A-Za-z]+", spaced) if token]


def kinds_in_name(name: str) -> list[str]:
    """Every kind a token of ``name`` suggests, in order of first appearance (no duplicates)."""
    found: list[str] = []
    for token in name_tokens(name):
        kind = KIND_TOKENS.get(token)
        if kind is not None and kind not in found:
            found.append(kind)
    return found


def preset_preprocess(preset: str, kind: str, channels: int) -> tuple[dict[str, Any], str | None]:
    """``preprocess`` of one float input under ``preset``, plus a note when the preset had to be
    adapted (ImageNet statistics are per RGB channel; other channel counts get their average)."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    if preset == "none":
        return {"scale": 1.0, "mean": [0.0], "std": [1.0]}, None
    if preset == "imagenet" and kind != "image":
        return {"scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0]}, None
    if channels == 3:
        return {"scale": 1.0 / 255.0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}, None
    mean, std = sum(IMAGENET_MEAN) / 3, sum(IMAGENET_STD) / 3
    note = f"{channels}-channel input: the ImageNet mean/std were averaged over RGB ({mean:.3f}/{std:.3f})"
    return {"scale": 1.0 / 255.0, "mean": [mean], "std": [std]}, note


def preset_classes(name: str) -> tuple[str, ...]:
    """The class list of a named preset (``harness.data.<name>.CLASSES``)."""
    return tuple(import_module(f"harness.data.{name}").CLASSES)


def read_class_file(path: Path, flag: str = "--classes") -> tuple[str, ...]:
    """Class names from a file: a JSON list of strings, or one name per line (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{flag} {path}: cannot read the class file ({error})") from None
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{flag} {path}: invalid JSON list at line {error.lineno}: {error.msg}") from None
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ConfigError(f"{flag} {path}: expected a JSON list of non-empty class names")
        names = [n.strip() for n in names]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ConfigError(f"{flag} {path}: no class names; write one name per line or a JSON list")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{flag} {path}: class names listed twice: {', '.join(twice)}; one name per class id")
    return tuple(names)


def resolve_classes(value: str) -> tuple[tuple[str, ...], str]:
    """``deliver`` | ``cityscapes`` | a file -> (names, where they came from)."""
    if value in CLASS_PRESETS:
        return preset_classes(value), f"preset {value!r}"
    path = Path(value)
    if not path.is_file():
        raise ConfigError(
            f"--classes {value!r}: not a preset ({', '.join(CLASS_PRESETS)}) and no such file; "
            "give a preset or a file with one class name per line (or a JSON list)"
        )
    return read_class_file(path), f"file {path}"
