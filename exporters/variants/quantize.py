"""Typed ONNX variants: FP16 with FP32 I/O, and INT8 as Q/DQ from static quantization.

These files serve two consumers. ONNX Runtime runs them directly (the CPU-runnable precision
variants ``model.fp16.onnx`` / ``model.int8.onnx``), and a strongly typed TensorRT build
(required by TensorRT 11) parses them, because there the precision must be in the graph.
Both use well-kept converters rather than our own graph surgery:
``onnxruntime.transformers.float16.convert_float_to_float16`` (``keep_io_types=True``, so
the manifest's float32 contract still holds) and ``onnxruntime.quantization.quantize_static``
in QDQ format, fed by :class:`harness.variants.calibration.OrtCalibrationReader`.

Two INT8 recipes: ``ort-cpu`` (unsigned 8-bit activations, signed per-channel weights: what
ONNX Runtime's CPU kernels are fastest with) and ``trt`` (signed symmetric activations and
weights, Q/DQ pairs kept on weights, bias left in float: what TensorRT's explicit
quantization expects).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Literal

from harness.errors import BackendUnavailable, ConfigError, InfrastructureError

CalibMethod = Literal["entropy", "minmax", "percentile"]
CALIB_METHODS: tuple[str, ...] = ("entropy", "minmax", "percentile")


def _quantization_module() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as error:
        raise BackendUnavailable(
            f"onnxruntime.quantization is not importable ({error}); install with: pip install 'mmharness[cpu]'"
        ) from None
    return quantization


def convert_fp16(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write an FP16 copy of ``source`` whose graph inputs and outputs stay float32.

    Ops onnxruntime's converter keeps in float32 by default (its ``DEFAULT_OP_BLOCK_LIST``,
    e.g. ``Resize`` variants without FP16 kernels) stay float32 with casts around them.
    """
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as error:
        raise BackendUnavailable(
            f"onnxruntime.transformers.float16 is not importable ({error}); install with: pip install 'mmharness[cpu]'"
        ) from None
    model = onnx.load(os.fspath(source))
    converted = convert_float_to_float16(model, keep_io_types=True)
    out = Path(target)
    onnx.save(converted, os.fspath(out))
    return out


def quantize_int8(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    reader: Any,
    *,
    recipe: Literal["ort-cpu", "trt"] = "ort-cpu",
    method: str = "entropy",
    per_channel: bool = True,
) -> Path:
    """Static INT8 quantization of ``source`` into QDQ format, calibrated on ``reader``.

    ``reader`` follows onnxruntime's ``CalibrationDataReader`` protocol (``get_next`` returning
    a feed dict or None); use ``CalibrationReader.ort_reader()``. ``method`` is the range
    estimator: ``entropy`` (KL divergence, the same criterion as TensorRT's entropy
    calibrator), ``minmax`` or ``percentile``.
    """
    if method not in CALIB_METHODS:
        raise ConfigError(f"--calib-method {method!r} is not valid (choose from: {', '.join(CALIB_METHODS)})")
    q = _quantization_module()
    methods = {
        "entropy": q.CalibrationMethod.Entropy,
        "minmax": q.CalibrationMethod.MinMax,
        "percentile": q.CalibrationMethod.Percentile,
    }
    if recipe == "trt":
        activation, extra = q.QuantType.QInt8, {
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "AddQDQPairToWeight": True,
            "QuantizeBias": False,
        }
    else:
        activation, extra = q.QuantType.QUInt8, {"WeightSymmetric": True}
    out = Path(target)
    quiet = logging.getLogger()  # quantize_static warns on the root logger about pre-processing
    level = quiet.level
    quiet.setLevel(max(level, logging.ERROR))
    try:
        # onnxruntime's entropy calibrator print()s its progress: keep stdout for data
        with contextlib.redirect_stdout(sys.stderr):
            q.quantize_static(
                os.fspath(source),
                os.fspath(out),
                reader,
                quant_format=q.QuantFormat.QDQ,
                activation_type=activation,
                weight_type=q.QuantType.QInt8,
                per_channel=per_channel,
                calibrate_method=methods[method],
                extra_options=extra,
            )
    except (ValueError, RuntimeError) as error:
        raise InfrastructureError(f"INT8 quantization of {source} failed: {error}") from None
    finally:
        quiet.setLevel(level)
    return out


def quantize_int4(source: str | os.PathLike[str], target: str | os.PathLike[str], *, block_size: int = 32) -> Path:
    """Weight-only INT4 of every MatMul with a constant weight: onnxruntime's ``MatMulNBits``
    (symmetric blocks of ``block_size`` along K), the format onnxruntime-genai ships for decoders.

    Activations stay float, so no calibration is needed; the result needs ONNX Runtime
    (``com.microsoft`` domain).
    """
    import onnx

    if block_size < 16 or block_size & (block_size - 1):
        raise ConfigError(f"--int4-block-size {block_size}: expected a power of two >= 16 (MatMulNBits), e.g. 32")
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as error:
        raise BackendUnavailable(
            f"onnxruntime's MatMulNBitsQuantizer is not importable ({error}); install with: pip install 'mmharness[cpu]'"
        ) from None
    chatty = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")  # one INFO line per node
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        quantizer = MatMulNBitsQuantizer(onnx.load(os.fspath(source)), bits=4, block_size=block_size, is_symmetric=True)
        quantizer.process()
    except (ValueError, RuntimeError) as error:
        raise InfrastructureError(f"INT4 quantization of {source} failed: {error}") from None
    finally:
        chatty.setLevel(level)
    out = Path(target)
    onnx.save(quantizer.model.model, os.fspath(out))
    return out
