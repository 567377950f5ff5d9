"""Which corruptions the NM scenario runs for each modality: ``default`` (a few per sensor at
severities 1, 3, 5, sized for the two-minute first run), ``full`` (every registered
corruption that applies to the modality's kind, severities 1..5), ``liao`` (the preset only)
or an explicit ``rgb=fog+snow;depth=pixelate`` list. Resolved names are stored in the config,
so results say exactly what ran."""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import ConfigError
from harness.manifest import Manifest

SUITES = ("default", "full", "liao")
DEFAULT_SEVERITIES: tuple[int, ...] = (1, 3, 5)
FULL_SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
# image: one noise, one blur, one weather effect (ImageNet-C's families); other sensors: one
# noise and one dropout-like fault. Kinds without these fall back to their own family.
_PREFERRED = {
    "image": ("gaussian_noise", "motion_blur", "fog"),
    "depth": ("depth_gaussian_noise", "depth_holes"),
    "lidar": ("lidar_range_noise", "lidar_beam_dropout"),
    "event": ("event_background_noise", "event_dropout"),
    "thermal": ("thermal_noise", "thermal_low_contrast"),
}
_PER_SENSOR = 2


def resolve_suite(text: str, manifest: Manifest) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[int, ...]]:
    """``(nm_suite, severities)`` for ``--nm-suite TEXT``; unknown names get a did-you-mean."""
    from harness.corruptions import api

    if text == "liao":
        return (), DEFAULT_SEVERITIES
    if text in ("default", "full"):
        suite = []
        for modality in manifest.modalities:
            available = api.names(modality.kind) if modality.kind != "text" else []
            if text == "full":
                names = available
            else:
                preferred = [n for n in _PREFERRED.get(modality.kind, ()) if n in available]
                own = [c.name for c in api.describe(modality.kind) if c.family == modality.kind]
                names = preferred or own[:_PER_SENSOR]
            if names:
                suite.append((modality.name, tuple(names)))
        return tuple(suite), DEFAULT_SEVERITIES if text == "default" else FULL_SEVERITIES
    return _explicit(text, manifest), FULL_SEVERITIES


def _explicit(text: str, manifest: Manifest) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from harness.corruptions import api

    suite = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        modality_name, sep, names_text = part.partition("=")
        if not sep or modality_name not in manifest.modality_names:
            raise ConfigError(
                f"--nm-suite: {part!r}: expected MODALITY=name+name with MODALITY one of "
                f"{', '.join(manifest.modality_names)} (or one of {', '.join(SUITES)})"
            )
        kind = manifest.modality(modality_name).kind
        names = tuple(n for n in names_text.split("+") if n)
        for name in names:
            spec = api.get(name)  # unknown name -> did-you-mean
            if kind not in spec.kinds:
                raise ConfigError(f"--nm-suite: corruption {name!r} does not apply to {modality_name} (kind {kind}); it applies to {', '.join(spec.kinds)}")
        suite.append((modality_name, names))
    return tuple(suite)


def check_suite(suite: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Every named corruption exists (used when a plan comes from a stored config)."""
    from harness.corruptions import api

    for _, names in suite:
        for name in names:
            api.get(name)
