"""The one naming rule of deployment variants, shared by segmentation models and VLMs, by the
builder and by both compare paths.

A variant of graph role ``R`` at precision ``P`` is the manifest graph ``R.P`` (``model.int8``,
``decoder.int4``) stored as ``<stem of R's file>.P.onnx``; a TensorRT engine of it is the role
``R.P.engine`` (``R.engine`` for FP32, which ``--backend trt`` runs). ``mmharness build``
writes and registers these names (``exporters/variants/``); ``run --compare`` and ``bias
--compare`` resolve a label to them (``harness.variants.compare``, ``harness.variants.vlm``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

ENGINE_SUFFIX = ".engine"


def variant_role(role: str, precision: str) -> str:
    """``("decoder", "int4")`` -> ``decoder.int4``."""
    return f"{role}.{precision}"


def variant_file(source_file: str, precision: str, suffix: str = ".onnx") -> str:
    """``("decoder.onnx", "int4")`` -> ``decoder.int4.onnx`` (``suffix=".engine"`` for an engine)."""
    return f"{source_file.removesuffix('.onnx')}.{precision}{suffix}"


def engine_role(role: str, precision: str) -> str:
    """The engine of ``role`` at ``precision``: ``model.engine`` (FP32) or ``model.int8.engine``."""
    return f"{role}{ENGINE_SUFFIX}" if precision == "fp32" else f"{variant_role(role, precision)}{ENGINE_SUFFIX}"


def precisions_of(graphs: Mapping[str, str], roles: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Which of ``roles`` have a variant in ``graphs``, per precision (engines left out)."""
    found: dict[str, list[str]] = {}
    for key in graphs:
        role, dot, precision = key.partition(".")
        if dot and role in roles and not precision.endswith(ENGINE_SUFFIX.lstrip(".")) and "." not in precision:
            found.setdefault(precision, []).append(role)
    return {precision: tuple(r for r in roles if r in members) for precision, members in sorted(found.items())}
