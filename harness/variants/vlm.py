"""``--compare`` labels of a VLM: which manifest graph each role runs.

``mmharness build`` registers a VLM variant per graph as ``<role>.<precision>``
(``decoder.int4``, the naming rule of ``harness.variants.registry``). A label names one precision (``int4``: every role that has an ``int4``
graph swaps it in, the others keep FP32) or several joined by ``+`` (``int8+int4``: the INT8
vision encoder with the INT4 decoder; the first listed precision a role has wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.errors import ConfigError, ManifestError
from harness.variants.registry import precisions_of, variant_role

ROLES: tuple[str, ...] = ("vision", "embedding", "decoder")


@dataclass(frozen=True)
class VlmCandidate:
    """One ``--compare`` label resolved against the manifest's graphs."""

    label: str
    graphs: tuple[tuple[str, str], ...]  # (role, graph key) for the swapped roles only

    @property
    def slug(self) -> str:
        """Folder name under ``OUT/compare`` (``int8+int4`` -> ``int8_int4``)."""
        return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in self.label)


def resolve_label(label: str, graphs: Mapping[str, str], model_dir: str = "MODEL_DIR") -> VlmCandidate:
    """``label`` -> the graph keys it swaps in; a label no graph has says which build makes it."""
    precisions = [part.strip() for part in label.split("+")]
    if not label.strip() or not all(precisions):
        raise ConfigError(f"--compare {label!r}: expected a precision such as int4, fp16, int8, or int8+int4")
    available = precisions_of(graphs, ROLES)
    swapped: dict[str, str] = {}
    for precision in precisions:
        found = available.get(precision, ())
        if not found:
            have = sorted(available)
            raise ManifestError(
                f"{model_dir}/manifest.json: graphs: no variant {precision!r} (variants: {', '.join(have) or 'none'}); "
                f"for --compare {label} run: mmharness build {model_dir} --precision {precision}"
            )
        for role in found:
            swapped.setdefault(role, variant_role(role, precision))
    return VlmCandidate(label.strip(), tuple((role, swapped[role]) for role in ROLES if role in swapped))


def resolve_labels(tokens: Sequence[str], graphs: Mapping[str, str], model_dir: str = "MODEL_DIR") -> tuple[VlmCandidate, ...]:
    """Every ``--compare`` token (comma lists allowed), resolved before anything runs."""
    out: list[VlmCandidate] = []
    for token in (t for group in tokens for t in group.split(",") if t.strip()):
        if token.strip() == "fp32":
            raise ConfigError("--compare fp32: that is the reference itself")
        cand = resolve_label(token, graphs, model_dir)
        if any(c.slug == cand.slug for c in out):
            raise ConfigError(f"--compare {token}: given twice")
        out.append(cand)
    return tuple(out)
