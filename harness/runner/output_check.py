"""The scored output's shape, checked on every batch against the manifest. ``validate`` can
only compare static dims; a graph whose class axis is dynamic may emit 5 channels while the
manifest lists 7 classes, and arg-max would then score it silently against the wrong classes."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from harness.errors import ManifestError
from harness.manifest import OutputSpec


def check_output(output: OutputSpec, value: npt.NDArray[Any], num_classes: int, rows: int) -> None:
    """``ManifestError`` unless ``value`` is ``rows`` logits over ``num_classes`` (or a class map)."""
    rank = 3 if output.role == "class_map" else 4
    if value.ndim != rank or value.shape[0] < rows:
        raise ManifestError(
            f"manifest.json: outputs: {output.name!r} ({output.role}) came back with shape {list(value.shape)} for a batch "
            f"of {rows}; expected rank {rank} with the batch first; fix the output's role/layout or re-export"
        )
    if output.role == "class_map":
        return
    channels = value.shape[1 if output.layout == "NCHW" else 3]
    if channels != num_classes:
        raise ManifestError(
            f"manifest.json: classes: {num_classes} names but {output.name!r} came back with {channels} channels "
            f"(shape {list(value.shape)}, layout {output.layout}); list one class name per output channel, in channel order"
        )
