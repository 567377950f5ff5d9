"""From ``--precision``/``--target`` and the TensorRT features to concrete build steps.

A plan says, before anything heavy runs, which ONNX transform is needed (none, FP16 casts,
INT8 Q/DQ), which builder and network-creation flags to set, whether an entropy calibrator
is used, and what files come out. Two TensorRT strategies exist:

- ``builder-flags`` (TensorRT 10, weak typing): the FP32 ONNX is parsed and
  ``BuilderFlag.FP16``/``INT8`` let TensorRT pick lower-precision kernels; INT8 ranges come
  from ``IInt8EntropyCalibrator2`` fed by the harness calibration reader.
- ``strongly-typed`` (required by TensorRT 11, optional on 10): the precision is written
  into the ONNX first (FP16 conversion keeping FP32 I/O, or Q/DQ from onnxruntime's static
  quantization with the same calibration reader) and the network is built exactly as typed.

``--target ort`` plans the ONNX Runtime variants only (CPU-runnable, no GPU needed).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from exporters.variants.features import TrtFeatures
from harness.errors import ConfigError

Precision = Literal["fp32", "fp16", "int8", "int4"]
Target = Literal["trt", "ort"]
Transform = Literal["none", "fp16", "int8-qdq"]
Strategy = Literal["builder-flags", "strongly-typed", "onnx-variant"]
QuantRecipe = Literal["ort-cpu", "trt"]

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int4")  # int4: VLM decoders only
TARGETS: tuple[str, ...] = ("trt", "ort")
MIN_INT8_SM = (6, 1)  # DP4A: the oldest architecture with INT8 math TensorRT uses


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> str:
    if value in allowed:
        return value
    close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.4)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"{flag} {value!r} is not valid{hint} (choose from: {', '.join(allowed)})")


def parse_precision(value: str) -> Precision:
    """``fp32``/``fp16``/``int8``/``int4`` (case-insensitive); anything else is a ``ConfigError`` with a hint."""
    return _choice(value.strip().lower(), PRECISIONS, "--precision")  # type: ignore[return-value]


def parse_target(value: str) -> Target:
    return _choice(value.strip().lower(), TARGETS, "--target")  # type: ignore[return-value]


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build will do, decided up front (printed by ``mmharness build --dry-run``)."""

    precision: Precision
    target: Target
    strategy: Strategy
    transform: Transform
    quant_recipe: QuantRecipe | None
    builder_flags: tuple[str, ...]  # attribute names of trt.BuilderFlag
    network_flags: tuple[str, ...]  # attribute names of trt.NetworkDefinitionCreationFlag
    calibrator: bool  # implicit INT8 calibration through IInt8EntropyCalibrator2
    typed_onnx: str | None  # file name of the transformed ONNX (None: parse the source as is)
    output: str  # file name written into the model directory
    role: str  # key added to the manifest's graphs

    @property
    def needs_calibration_data(self) -> bool:
        return self.calibrator or self.transform == "int8-qdq"

    def describe(self) -> dict[str, object]:
        return {
            "precision": self.precision, "target": self.target, "strategy": self.strategy,
            "transform": self.transform, "quant_recipe": self.quant_recipe,
            "builder_flags": list(self.builder_flags), "network_flags": list(self.network_flags),
            "calibrator": self.calibrator, "typed_onnx": self.typed_onnx, "output": self.output, "role": self.role,
        }


def variant_names(source_file: str, base_role: str, precision: str, target: str) -> tuple[str, str]:
    """(file name, manifest role) of a variant: ``model.onnx`` -> ``model.int8.onnx`` / role
    ``model.int8`` for ONNX Runtime; ``model.int8.engine`` / role ``model.int8.engine`` for TensorRT.

    Engine roles follow the ``trt`` backend's rule (it runs ``graphs[role + ".engine"]``): the
    FP32 engine is the plain ``model.engine`` role (``--backend trt``), a reduced-precision one
    sits beside its ONNX variant's role (``--compare trt@int8`` -> ``model.int8.engine``)."""
    from harness.variants.registry import engine_role, variant_file, variant_role

    if target == "ort":
        return variant_file(source_file, precision), variant_role(base_role, precision)
    return variant_file(source_file, precision, ".engine"), engine_role(base_role, precision)


def typed_onnx_name(source_file: str, transform: Transform, recipe: QuantRecipe | None) -> str | None:
    """File name of the typed ONNX a strongly typed build parses (Q/DQ for TensorRT differs from
    the ONNX Runtime CPU recipe, so it gets its own name)."""
    stem = source_file.removesuffix(".onnx")
    if transform == "fp16":
        return f"{stem}.fp16.onnx"
    if transform == "int8-qdq":
        return f"{stem}.int8.onnx" if recipe == "ort-cpu" else f"{stem}.int8-trt.onnx"
    return None


def plan_build(
    precision: str,
    target: str,
    features: TrtFeatures | None,
    *,
    source_file: str = "model.onnx",
    base_role: str = "model",
    strongly_typed: bool = False,
) -> BuildPlan:
    """Decide the build steps. ``features`` is required for ``target='trt'`` (from
    :func:`exporters.variants.features.detect_features`); ``strongly_typed`` asks for the typed
    path on TensorRT 10 too (TensorRT 11 always takes it)."""
    prec = parse_precision(precision)
    tgt = parse_target(target)
    if prec == "int4":
        raise ConfigError(f"--precision int4: weight-only INT4 (MatMulNBits) is built for the decoder of a VLM (task vqa), "
                          f"not for {source_file}; use fp16 or int8")
    output, role = variant_names(source_file, base_role, prec, tgt)
    if tgt == "ort":
        if prec == "fp32":
            raise ConfigError(
                f"--precision fp32 --target ort: {source_file} already is the FP32 ONNX Runtime model; "
                "ask for fp16 or int8, or --target trt for an engine"
            )
        transform: Transform = "fp16" if prec == "fp16" else "int8-qdq"
        recipe: QuantRecipe | None = "ort-cpu" if prec == "int8" else None
        return BuildPlan(prec, tgt, "onnx-variant", transform, recipe, (), (), False, None, output, role)
    if features is None:
        raise ConfigError("--target trt needs TensorRT features; detect them with detect_features(tensorrt)")
    weak = features.weak_typing and not strongly_typed
    if weak and prec == "int8" and not features.int8_calibrator:
        weak = False  # no implicit calibration in this TensorRT: Q/DQ is the only INT8 route
    if weak:
        flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8",)}[prec]
        return BuildPlan(prec, tgt, "builder-flags", "none", None, flags, (), prec == "int8", None, output, role)
    # Strongly typed. The creation flag is set only where it still means something (10.x);
    # 11.x keeps it as an ignored, deprecated name.
    net_flags = ("STRONGLY_TYPED",) if features.strongly_typed_flag and features.weak_typing else ()
    transform = {"fp32": "none", "fp16": "fp16", "int8": "int8-qdq"}[prec]  # type: ignore[assignment]
    recipe = "trt" if prec == "int8" else None
    return BuildPlan(
        prec, tgt, "strongly-typed", transform, recipe, (), net_flags, False,
        typed_onnx_name(source_file, transform, recipe), output, role,
    )


def parse_sm(sm: str) -> tuple[int, int]:
    major, _, minor = sm.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ConfigError(f"compute capability {sm!r} is not 'major.minor'")
    return int(major), int(minor)


def check_int8_support(sm: str, device_name: str, platform_fast_int8: bool | None = None) -> None:
    """Refuse INT8 on a GPU without INT8 math: TensorRT's own answer when it still has one
    (``platform_has_fast_int8``, TensorRT 10), else the compute capability (>= 6.1)."""
    if platform_fast_int8 is False or parse_sm(sm) < MIN_INT8_SM:
        raise ConfigError(
            f"--precision int8: GPU {device_name!r} (SM {sm}) has no fast INT8 support "
            f"(needs SM >= {MIN_INT8_SM[0]}.{MIN_INT8_SM[1]}); use --precision fp16 or fp32"
        )
