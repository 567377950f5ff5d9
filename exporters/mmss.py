"""Export a multi-modal segmentation model (CMNeXt-style) to ONNX + ``manifest.json``.

The source model takes its modalities as a list (``model([rgb, depth, event, lidar])``, as
CMNeXt does), a dict, or keyword tensors. The export gives every modality its own named graph
input, traced from distinct example tensors (identical tensors would let the tracer alias
them) with batch >= 2 when the batch is dynamic (a batch of 1 gets specialised away). The
opset is pinned and the exporter that actually ran is recorded. Afterwards the graph is
checked (every modality is a consumed input: a model whose traced path ignores one would
otherwise ship a graph that silently cannot see it) and compared with the torch model on
random inputs and with each modality missing, before the manifest is written through
``harness.manifest.write_manifest`` (which validates it against the graph).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from exporters.verify import (
    DEFAULT_REL_TO_MAX,
    DEFAULT_TIE_FRACTION,
    ParityCase,
    ParityReport,
    compare,
    ort_session,
    random_feed,
    require_parity,
)
from harness.errors import BadInputError, ConfigError
from harness.manifest.presets import IMAGENET_MEAN, IMAGENET_STD, KIND_TOKENS
from harness.metrics.parity import Tolerance
from harness.report.io import file_sha256

Call = Literal["list", "dict", "kwargs"]
Exporter = Literal["dynamo", "torchscript"]
CALLS: tuple[str, ...] = ("list", "dict", "kwargs")
EXPORTERS: tuple[str, ...] = ("dynamo", "torchscript")


class ExportError(BadInputError):
    """The model cannot be exported as asked; the message says which part and how to fix it."""


@dataclass(frozen=True)
class MmssExportConfig:
    """Everything an MMSS export needs besides the model. ``modalities`` are manifest entries."""

    name: str
    modalities: tuple[Mapping[str, Any], ...]
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    call: Call = "list"
    opset: int = 18
    exporter: Exporter = "dynamo"
    dynamic_batch: bool = True
    batch_max: int = 16
    static_batch: int = 1
    argmax: bool = False
    ignore_index: int = 255
    atol: float = 1e-5
    rtol: float = 1e-3
    rel_to_max: float = DEFAULT_REL_TO_MAX
    tie_fraction: float = DEFAULT_TIE_FRACTION
    seed: int = 0
    source_model: str = ""
    weights: str = ""  # provenance: "sha256:<hex> (<file>)" or "random init, seed N" (see ``weights_provenance``)
    description: str = ""

    def __post_init__(self) -> None:
        if self.call not in CALLS:
            raise ConfigError(f"--call {self.call!r} is invalid; expected one of {', '.join(CALLS)}")
        if self.exporter not in EXPORTERS:
            raise ConfigError(f"--exporter {self.exporter!r} is invalid; expected one of {', '.join(EXPORTERS)}")
        if not self.modalities:
            raise ConfigError("--modalities is empty; name at least one modality, e.g. --modalities rgb,depth")
        names = [m["name"] for m in self.modalities]
        if len(set(names)) != len(names):
            raise ConfigError(f"--modalities {names} repeats a name; every modality needs its own input")
        if self.dynamic_batch and self.batch_max < 2:
            raise ConfigError(f"--batch-max {self.batch_max} is invalid; a dynamic batch needs a maximum >= 2")
        if not 7 <= self.opset <= 23:
            raise ConfigError(f"--opset {self.opset} is invalid; expected 7..23 (default 18)")
        if not self.dynamic_batch and self.static_batch < 1:
            raise ConfigError(f"--static-batch {self.static_batch} is invalid; expected a batch size >= 1")
        if not (self.atol >= 0 and self.rtol >= 0 and self.rel_to_max >= 0):
            raise ConfigError(f"--atol {self.atol} / --rtol {self.rtol} / --rel-to-max {self.rel_to_max} invalid; "
                              f"parity tolerances must be >= 0")
        masked = [m["name"] for m in self.modalities if m.get("missing", {}).get("fill") == "mask"]
        if masked:
            raise ConfigError(f"--modality-spec: modalities {masked} use missing fill 'mask', which needs a mask graph "
                              f"input that export mmss does not create; use zero_normalized, zero_raw, mean or noise")
        if not 0.0 <= self.tie_fraction <= 1.0:
            raise ConfigError(f"--tie-fraction {self.tie_fraction} is invalid; expected a fraction in [0, 1] (default {DEFAULT_TIE_FRACTION})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m["input"] for m in self.modalities)

    @property
    def output(self) -> str:
        return "class_map" if self.argmax else "logits"


def default_modality(name: str, channels: int = 3) -> dict[str, Any]:
    """A manifest modality entry with the usual preprocessing: ImageNet for RGB, ``/255`` otherwise."""
    kind = KIND_TOKENS.get(name, "image")
    image = kind == "image" and channels == 3
    return {
        "name": name,
        "input": name,
        "kind": kind,
        "layout": "NCHW",
        "dtype": "float32",
        "channels": channels,
        "preprocess": {
            "scale": 1.0 / 255.0,
            "mean": list(IMAGENET_MEAN) if image else [0.0] * channels,
            "std": list(IMAGENET_STD) if image else [1.0] * channels,
        },
        "missing": {"fill": "zero_normalized"},
    }


@dataclass(frozen=True)
class ExportResult:
    onnx_path: Path
    manifest_path: Path
    parity: ParityReport
    provenance: Mapping[str, Any] = field(default_factory=dict)


# -- loading the user's model ----------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed torch, NumPy's global generator and ``random``: a randomly initialised factory then
    builds the same network for the same seed."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_factory(target: str, args: Mapping[str, Any] | None = None, seed: int | None = None) -> nn.Module:
    """Call ``pkg.module:factory`` or ``path/to/file.py:factory`` with ``args``; must return an ``nn.Module``.

    With ``seed`` every generator is seeded right before the factory runs (after the import,
    which may itself draw random numbers)."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--model {target!r} is not MODULE:FACTORY; expected e.g. mypkg.models:build or models/net.py:build")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise FileNotFoundError(str(path))
            spec = importlib.util.spec_from_file_location(f"_mmss_user_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            folder = str(path.resolve().parent)
            if folder not in sys.path:  # as `python path/to/file.py` would: its sibling modules import
                sys.path.insert(0, folder)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001  (the user's module may raise anything on import)
        raise ConfigError(f"--model {target}: cannot import {module_name!r} ({type(error).__name__}: {error}); "
                          f"check the module path and that its dependencies are installed") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"--model {target}: {module_name!r} has no callable {attr!r}")
    if seed is not None:
        seed_everything(seed)
    try:
        model = factory(**dict(args or {}))
    except Exception as error:  # noqa: BLE001  (the user's factory may raise anything)
        raise ConfigError(f"--model {target}: calling {attr}(**{dict(args or {})}) failed ({type(error).__name__}: "
                          f"{' '.join(str(error).split())[:240]}); check --factory-arg and what the factory needs") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"--model {target}: {attr}() returned {type(model).__name__}; expected a torch.nn.Module")
    return model


def weights_provenance(path: Path | None, seed: int) -> str:
    """What the manifest records about the weights: the file's sha256, or the seed of a random init."""
    if path is None:
        return f"random init, seed {seed}"
    return f"sha256:{file_sha256(path)} ({path.name})"


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a state dict: ``.safetensors``, or a torch file read with ``weights_only=True`` (no code runs)."""
    if not path.is_file():
        raise ConfigError(f"--weights {path}: file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except ImportError:
        raise ConfigError(f"--weights {path}: reading .safetensors needs: pip install safetensors") from None
    except Exception as error:  # noqa: BLE001  (unpickling refusals, key mismatches, corrupt files)
        raise ConfigError(f"--weights {path}: cannot load into {type(model).__name__} ({' '.join(str(error).split())[:240]})") from None


def _forward_parameters(model: nn.Module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return []


def check_call(model: nn.Module, names: Sequence[str], call: Call) -> None:
    """Modality names and the calling convention must fit ``model.forward``'s signature."""
    params = _forward_parameters(model)
    if not params:
        return
    described = f"{type(model).__name__}.forward({', '.join(p.name for p in params)})"
    if call == "kwargs":
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        unknown = [n for n in names if n not in accepted]
        if unknown:
            raise ExportError(f"modality names {unknown} do not match the forward signature {described}; "
                              f"rename with --modalities to its parameter names, or use --call list/dict")
        required = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        left = [n for n in required if n not in names]
        if left:
            raise ExportError(f"{described} requires {left}, which --modalities {list(names)} does not provide")
    else:
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        if not positional:
            raise ExportError(f"{described} takes no positional argument; --call {call} passes one {call} of tensors")


class NamedInputs(nn.Module):
    """``forward(*tensors)`` in modality order -> the model called its own way; logits or class map out."""

    def __init__(self, model: nn.Module, names: Sequence[str], call: Call, argmax: bool) -> None:
        super().__init__()
        self.model, self.names, self.call, self.argmax = model, tuple(names), call, argmax

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.logits(*inputs)
        return out.argmax(1) if self.argmax else out

    def logits(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The model's own output (first of a tuple, ``logits``/``out`` of a dict), before any arg-max."""
        if self.call == "list":
            out = self.model(list(inputs))
        elif self.call == "dict":
            out = self.model(dict(zip(self.names, inputs)))
        else:
            out = self.model(**dict(zip(self.names, inputs)))
        if isinstance(out, (tuple, list)):
            out = out[0]
        elif isinstance(out, Mapping):
            out = out.get("logits", out.get("out", next(iter(out.values()))))
        return out


# -- export --------------------------------------------------------------------------------
def _shapes(config: MmssExportConfig, batch: int) -> dict[str, tuple[int, ...]]:
    h, w = config.input_size
    return {m["input"]: (batch, int(m["channels"]), h, w) for m in config.modalities}


def _run_torch(wrapper: NamedInputs, config: MmssExportConfig):
    """The torch reference as ``feed -> {output: array}``; always logits (a class map is checked against them)."""
    names = config.names

    def run(feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = wrapper.logits(*[torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names])
        if not isinstance(out, torch.Tensor):
            raise ExportError(f"the model returned {type(out).__name__}; expected a tensor of N x C x H x W logits")
        return {config.output: out.numpy()}

    return run


def _op_from(error: BaseException) -> str | None:
    """The operator an export error is about (``ns::name``), searched through the chain of causes."""
    patterns = (r"OpOverload\(op='(\w+)\.(\w+)'", r"operator '(\w+)::(\w+)'", r"\b(aten)::(\w+)", r"\b(\w+)::(\w+)")
    seen: BaseException | None = error
    while seen is not None:
        for pattern in patterns:
            match = re.search(pattern, str(seen))
            if match:
                return f"{match.group(1)}::{match.group(2)}"
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def _exporter_output_to(log: Path) -> Iterator[None]:
    """Send everything torch's exporters print to ``log`` instead of the user's terminal.

    On a failed conversion the TorchScript exporter dumps the whole Torch IR graph to stdout
    from C++, and torch.export logs whole graph modules to stderr; the dynamo exporter also
    warns about every torchvision op it cannot register. ``sys.stdout``/``sys.stderr`` cannot
    catch C++ writes, so file descriptors 1 and 2 point at ``log`` meanwhile; our one-line
    error names the file when it holds anything.
    """
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    saved: list[tuple[int, int]] = []
    with open(log, "wb") as sink:
        try:
            for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
                if stream is not None:
                    stream.flush()
                try:
                    saved.append((fd, os.dup(fd)))
                except OSError:  # no such descriptor to protect
                    continue
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for fd, copy in saved:
                stream = sys.stdout if fd == 1 else sys.stderr
                if stream is not None:
                    stream.flush()
                os.dup2(copy, fd)
                os.close(copy)
            logger.setLevel(level)


def _export_failure(error: BaseException, config: MmssExportConfig, log: Path) -> ExportError:
    """One line: the operator when one is named, else the innermost cause's first line, the log file and what to try."""
    op = _op_from(error)
    innermost = error
    while innermost.__cause__ is not None:
        innermost = innermost.__cause__
    text = str(innermost) if str(innermost).strip() else str(error)
    first = re.sub(r"\x1b\[[0-9;]*m", "", next((ln.strip() for ln in text.splitlines() if ln.strip()), type(error).__name__))
    what = f"operator {op} is not supported" if op else "export failed"
    other = "torchscript" if config.exporter == "dynamo" else "dynamo"
    kept = f"; exporter log: {log}" if log.is_file() and log.stat().st_size else ""
    if not kept:
        log.unlink(missing_ok=True)
    return ExportError(f"{config.name}: {what} by the {config.exporter} exporter at opset {config.opset} "
                       f"({type(innermost).__name__}: {first[:200]}){kept}; try --exporter {other}, another --opset, "
                       f"or replace the op / data-dependent branch in the model")


def _export_graph(wrapper: NamedInputs, examples: tuple[torch.Tensor, ...], path: Path, config: MmssExportConfig) -> None:
    names = list(config.names)
    log = path.with_name(f"{config.name}.export.log")
    try:
        with warnings.catch_warnings(), _exporter_output_to(log):
            warnings.simplefilter("ignore")
            if config.exporter == "dynamo":
                dynamic = None
                if config.dynamic_batch:
                    batch = torch.export.Dim("batch", min=1, max=config.batch_max)
                    dynamic = (tuple({0: batch} for _ in names),)
                torch.onnx.export(wrapper, examples, str(path), input_names=names, output_names=[config.output],
                                  opset_version=config.opset, dynamo=True, external_data=False,
                                  dynamic_shapes=dynamic, verbose=False)
            else:
                axes = {n: {0: "batch"} for n in [*names, config.output]} if config.dynamic_batch else None
                torch.onnx.export(wrapper, examples, str(path), input_names=names, output_names=[config.output],
                                  opset_version=config.opset, dynamo=False, dynamic_axes=axes)
    except Exception as error:  # noqa: BLE001  (torch raises many unrelated types; all mean "cannot export")
        raise _export_failure(error, config, log) from None
    log.unlink(missing_ok=True)


def strip_stack_traces(path: Path) -> None:
    """Drop the per-node Python stack traces the dynamo exporter records.

    They hold absolute source paths and line numbers of the exporting machine: a leak, and the
    reason two exports of the same weights would differ byte for byte.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    changed = False
    for node in model.graph.node:
        keep = [p for p in node.metadata_props if not p.key.endswith("stack_trace")]
        if len(keep) != len(node.metadata_props):
            del node.metadata_props[:]
            node.metadata_props.extend(keep)
            changed = True
    if changed:
        onnx.save(model, str(path))


def check_inputs_kept(path: Path, names: Sequence[str], shown: str | None = None) -> None:
    """Every modality must be a graph input that some node consumes; otherwise the export is useless for it.

    ``shown`` is the file name used in the message (the final name of a graph still under a scratch name).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = {i.name for i in graph.input}
    consumed = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for name in names:
        if name not in inputs or name not in consumed:
            state = "is not a graph input" if name not in inputs else "is a graph input that no node reads"
            raise ExportError(
                f"{shown or path.name}: modality {name!r} {state}: the traced forward ignores it (folded away); "
                f"the model cannot use {name} (check that forward reads every modality, or drop it from --modalities)"
            )


def _actual_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def parity_cases(config: MmssExportConfig) -> list[ParityCase]:
    """Random inputs, then each modality replaced by its manifest missing fill (``fill_missing``, as a run does)."""
    from harness.corruptions.missing import fill_missing

    batch = min(3, config.batch_max) if config.dynamic_batch else config.static_batch
    base = random_feed(_shapes(config, batch), seed=config.seed + 1)
    cases = [ParityCase("random", base)]
    for index, m in enumerate(config.modalities):
        missing = m.get("missing", {})
        rngs = [np.random.default_rng([config.seed, index, i]) for i in range(batch)]
        filled = fill_missing(base[m["input"]], missing.get("fill", "zero_normalized"), _preprocess(m), rngs,
                              float(missing.get("noise_std", 1.0)))
        cases.append(ParityCase(f"missing={m['name']}", {**base, m["input"]: np.ascontiguousarray(filled)}))
    return cases


def _preprocess(modality: Mapping[str, Any]) -> Any:
    from harness.manifest.model import Preprocess

    pre = modality.get("preprocess", {})
    return Preprocess(float(pre.get("scale", 1.0)), tuple(pre.get("mean", [0.0])), tuple(pre.get("std", [1.0])))


def build_manifest(config: MmssExportConfig, onnx_file: str, provenance: Mapping[str, Any], report: ParityReport) -> dict[str, Any]:
    batch: dict[str, Any] = {"dynamic": True, "max": config.batch_max} if config.dynamic_batch else {"dynamic": False, "size": config.static_batch}
    output = {"name": config.output, "role": "class_map" if config.argmax else "logits", "layout": "NHW" if config.argmax else "NCHW"}
    doc: dict[str, Any] = {
        "schema_version": 1,
        "name": config.name,
        "task": "segmentation",
        "graphs": {"model": onnx_file},
        "modalities": [dict(m) for m in config.modalities],
        "outputs": [output],
        "classes": list(config.classes),
        "ignore_index": config.ignore_index,
        "batch": batch,
        "input_size": list(config.input_size),
        "constants": [],
        "provenance": dict(provenance),
        "parity": report.summary(),
    }
    if config.description:
        doc["description"] = config.description
    return doc


def check_logits(logits: np.ndarray, config: MmssExportConfig, batch: int) -> None:
    """The model's output must be N x C x H x W scores, one channel per class, at input size; checked before anything is written."""
    classes = len(config.classes)
    if logits.ndim != 4 or logits.shape[0] != batch or logits.shape[1] != classes:
        raise ExportError(
            f"{config.name}: the model returns shape {tuple(logits.shape)} for a batch of {batch}; expected "
            f"N x C x H x W logits with C = {classes} (--classes names {classes}); give --classes the model's "
            f"class list (or build the model with num_classes={classes})"
        )
    if tuple(logits.shape[2:]) != tuple(config.input_size):
        raise ExportError(
            f"{config.name}: the model returns {logits.shape[2]}x{logits.shape[3]} logits for "
            f"{config.input_size[0]}x{config.input_size[1]} inputs; the harness scores every pixel of the label, so "
            f"the output must be at input resolution (upsample to the input size at the end of forward, as CMNeXt does)"
        )


def _eager_logits(reference: Any, examples: tuple[torch.Tensor, ...], model: nn.Module, config: MmssExportConfig) -> np.ndarray:
    """Run the model once on the examples: a clear error about the calling convention before any tracing."""
    try:
        return reference({n: t.numpy() for n, t in zip(config.names, examples)})[config.output]
    except (TypeError, KeyError, IndexError, ValueError, RuntimeError) as error:
        first = " ".join(str(error).split())[:240]
        raise ExportError(f"{type(model).__name__} cannot be called with --call {config.call} and modalities "
                          f"{list(config.names)} of shapes {[tuple(t.shape) for t in examples]} ({type(error).__name__}: "
                          f"{first}); match the names, order, channels (--modality-spec) and calling convention to "
                          f"the model's forward") from None


def _provenance(path: Path, model: nn.Module, config: MmssExportConfig, example_batch: int) -> dict[str, Any]:
    import onnx
    import onnxruntime

    return {
        "exporter": f"torch.onnx ({config.exporter})",
        "opset": _actual_opset(path),
        "torch": torch.__version__.split("+")[0],
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "source_model": config.source_model or f"{type(model).__module__}.{type(model).__name__}",
        "seed": config.seed,
        **({"weights": config.weights} if config.weights else {}),
        "example_batch": example_batch,
        "call": config.call,
    }


def check_parity(model: nn.Module, path: Path, config: MmssExportConfig) -> ParityReport:
    """ORT on ``path`` against ``model`` (a ``NamedInputs`` or the user's model) on ``parity_cases``."""
    wrapper = model if isinstance(model, NamedInputs) else NamedInputs(model.eval(), config.names, config.call, config.argmax)
    tolerance = Tolerance(config.atol, config.rtol)
    run = (_run_torch(wrapper, config), ort_session(path), parity_cases(config), tolerance)
    if config.argmax:
        return compare(*run, class_maps={config.output: config.tie_fraction}, rel_to_max=config.rel_to_max)
    return compare(*run, {config.output: 1}, rel_to_max=config.rel_to_max, tie_fraction=config.tie_fraction)


def export_mmss(model: nn.Module, out_dir: str | Path, config: MmssExportConfig, onnx_file: str = "model.onnx") -> ExportResult:
    """Export ``model`` to ``out_dir/onnx_file`` + ``manifest.json``; raises on any failed check.

    Order: signature check -> eager run on the examples (a clear error before any tracing) ->
    export -> inputs kept -> ORT parity (random + each modality missing) -> manifest. The graph
    is written under a scratch name and moved into place only once every check passed, so a
    failed re-export never leaves a new graph beside an old manifest.
    """
    import onnx

    from harness.manifest import write_manifest

    if not isinstance(model, nn.Module):
        raise ConfigError(f"export_mmss: model is a {type(model).__name__}; expected a torch.nn.Module")
    model = model.eval()
    check_call(model, config.names, config.call)
    wrapper = NamedInputs(model, config.names, config.call, config.argmax).eval()
    example_batch = 2 if config.dynamic_batch else config.static_batch
    generator = torch.Generator().manual_seed(config.seed)
    examples = tuple(torch.randn(shape, generator=generator) for shape in _shapes(config, example_batch).values())
    reference = _run_torch(wrapper, config)
    check_logits(_eager_logits(reference, examples, model, config), config, example_batch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path, scratch = out / onnx_file, out / f".{onnx_file}.partial"
    try:
        _export_graph(wrapper, examples, scratch, config)
        strip_stack_traces(scratch)
        onnx.checker.check_model(str(scratch))
        check_inputs_kept(scratch, config.names, onnx_file)
        report = check_parity(wrapper, scratch, config)
        require_parity(report, str(path))
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    provenance = _provenance(path, model, config, example_batch)
    doc = build_manifest(config, onnx_file, provenance, report)
    doc["checksums"] = {onnx_file: file_sha256(path)}
    manifest_path = out / "manifest.json"
    write_manifest(manifest_path, doc)
    return ExportResult(onnx_path=path, manifest_path=manifest_path, parity=report, provenance=provenance)
