"""Event-camera corruptions on accumulated event frames (0 = no event at that pixel).

Draws are per pixel site and shared by all channels; the event magnitude written by
background noise is the frame's own largest value, so noise events look like real ones.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import box_down_nearest_up, drop_sites, uniform
from harness.corruptions.registry import FloatBatch, Rngs, register

BACKGROUND_RATE = (
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
)  # fraction of sites firing a spurious event
EVENT_DROPOUT = (0.1, 0.25, 0.4, 0.6, 0.8)  # fraction of event sites lost
LOW_RES_FACTOR = (
    2,
    3,
    4,
    6,
    8,
)  # downsample factor, then nearest upsample (DELIVER's "eventlowres")


@register(
    "event_background_noise",
    kinds=("event",),
    family="event",
    severities=BACKGROUND_RATE,
    summary="spurious events at random sites, fraction; magnitude U(0.5, 1) x frame max",
)
def event_background_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    sites = x.shape[1:3] + (1,)
    fire = uniform(rngs, sites) < BACKGROUND_RATE[severity - 1]
    magnitude = (0.5 + 0.5 * uniform(rngs, sites)) * x.max(
        axis=(1, 2, 3), keepdims=True
    )
    peak = np.where(
        magnitude > 0, magnitude, np.float32(1.0)
    )  # an empty frame: unit events
    return np.where(fire, np.maximum(x, peak), x).astype(np.float32)


@register(
    "event_dropout",
    kinds=("event",),
    family="event",
    severities=EVENT_DROPOUT,
    summary="events lost independently per site, fraction",
)
def event_dropout(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    return drop_sites(x, EVENT_DROPOUT[severity - 1], rngs)


@register(
    "event_low_resolution",
    kinds=("event",),
    family="event",
    severities=LOW_RES_FACTOR,
    summary="area downsample by factor, nearest upsample",
)
def event_low_resolution(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    factor = LOW_RES_FACTOR[severity - 1]
    _, h, w, _ = x.shape
    return box_down_nearest_up(x, (max(1, w // factor), max(1, h // factor)))
