"""Optimization profiles for TensorRT, derived from the manifest instead of guessed.

TensorRT needs min/opt/max shapes for every input with a dynamic dimension. The graph says
which dimensions are dynamic; the manifest says what they mean: axis 0 is the batch (range
1..``batch.max``, or the flag overrides), spatial axes are ``input_size``, the channel axis is
the modality's ``channels``. A dynamic dimension the manifest cannot explain is an error
naming the input and axis, never a silent 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.backends.interface import TensorSpec
from harness.errors import ConfigError, ManifestError
from harness.manifest.model import Manifest

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    """min/opt/max shape of one input (TensorRT's ``IOptimizationProfile.set_shape``)."""

    min: Shape
    opt: Shape
    max: Shape

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def _is_static(dim: object) -> bool:
    return isinstance(dim, int) and dim >= 0


def batch_range(manifest: Manifest, *, min_batch: int = 1, opt_batch: int | None = None,
                max_batch: int | None = None) -> tuple[int, int, int]:
    """(min, opt, max) batch: max from the flag or ``batch.max``; opt defaults to max."""
    hi = max_batch if max_batch is not None else manifest.batch.largest()
    if hi is None:
        raise ManifestError(
            f"{manifest.model_dir}/manifest.json: batch.max is not set, so a TensorRT profile for the dynamic "
            "batch axis has no upper bound; add batch.max or pass --max-batch N"
        )
    opt = opt_batch if opt_batch is not None else hi
    if not 1 <= min_batch <= opt <= hi:
        raise ConfigError(f"batch range must satisfy 1 <= min <= opt <= max, got min={min_batch} opt={opt} max={hi}")
    return min_batch, opt, hi


def _axis_meaning(manifest: Manifest, name: str, rank: int) -> Mapping[int, int]:
    """Axis -> size for the non-batch axes the manifest can explain for input ``name``."""
    for m in manifest.modalities:
        if m.input == name and rank == 4:
            h, w = manifest.input_size if manifest.input_size is not None else (None, None)
            axes = {1: m.channels, 2: h, 3: w} if m.layout == "NCHW" else {1: h, 2: w, 3: m.channels}
            return {axis: size for axis, size in axes.items() if size is not None}
    for c in manifest.constants:
        if c.input == name and c.shape is not None:
            return {axis: size for axis, size in enumerate(c.shape) if axis > 0}
    return {}


def derive_profiles(
    inputs: Sequence[TensorSpec],
    manifest: Manifest,
    *,
    min_batch: int = 1,
    opt_batch: int | None = None,
    max_batch: int | None = None,
) -> tuple[dict[str, ShapeRange], ...]:
    """One optimization profile covering every graph input with a dynamic dimension.

    Returns ``()`` when every input is static (TensorRT then needs no profile). Inputs that are
    fully static are still listed when another input is dynamic (min = opt = max), so the
    profile documents every input. ``inputs`` are the graph's inputs (symbolic dims as str/None).
    """
    if all(all(_is_static(d) for d in spec.shape) for spec in inputs):
        return ()
    b_min, b_opt, b_max = batch_range(manifest, min_batch=min_batch, opt_batch=opt_batch, max_batch=max_batch)
    profile: dict[str, ShapeRange] = {}
    for spec in inputs:
        meaning = _axis_meaning(manifest, spec.name, spec.rank)
        ranges: list[tuple[int, int, int]] = []
        for axis, dim in enumerate(spec.shape):
            if _is_static(dim):
                ranges.append((int(dim), int(dim), int(dim)))  # type: ignore[arg-type]
            elif axis == 0:
                ranges.append((b_min, b_opt, b_max))
            elif axis in meaning:
                ranges.append((int(meaning[axis]),) * 3)  # type: ignore[arg-type]
            else:
                raise ManifestError(
                    f"{manifest.model_dir}/manifest.json: graph input {spec.name!r} axis {axis} is dynamic ({dim!r}) and the "
                    "manifest does not say its size (set input_size, the modality's channels/layout, or the constant's shape)"
                )
        lo, mid, hi = (tuple(r[k] for r in ranges) for k in range(3))
        profile[spec.name] = ShapeRange(lo, mid, hi)
    return (profile,)


def profiles_as_json(profiles: Sequence[Mapping[str, ShapeRange]]) -> list[dict[str, dict[str, list[int]]]]:
    """The sidecar form: ``[{input: {"min": [...], "opt": [...], "max": [...]}}]``."""
    return [{name: rng.as_dict() for name, rng in p.items()} for p in profiles]
