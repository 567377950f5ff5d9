"""``mmharness validate MODEL_DIR``: prove a model directory's manifest agrees with its graphs.

Parse -> ``load_manifest`` + ``validate_against_graph`` (+ engine sidecars) -> render the
resolved contract as a table (or JSON) on stdout. Any disagreement is one line on stderr and
exit code 2.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import click

from harness.errors import ExitCode


@dataclass(frozen=True)
class EngineCheck:
    """Outcome of one engine's sidecar check; ``skipped`` names the comparisons not possible here."""

    role: str
    file: str
    trt_version: str
    sm: str
    precision: str
    skipped: tuple[str, ...]


def check_engines(contract: Any, trt_version: str | None, sm: str | None) -> list[EngineCheck]:
    """Check every engine's sidecar (format, source ONNX hash, and TRT/SM when known here)."""
    from harness.backends.tensorrt import check_engine_files

    checks = []
    for role, path in contract.engines.items():
        sidecar = check_engine_files(path, trt_version=trt_version, sm=sm, model_dir=contract.manifest.model_dir)
        skipped = tuple(what for what, known in (("TensorRT version", trt_version), ("GPU SM", sm)) if known is None)
        checks.append(
            EngineCheck(role, os.path.basename(path), sidecar.trt_version, sidecar.sm, sidecar.precision, skipped)
        )
    return checks


def _machine_facts() -> tuple[str | None, str | None]:
    """TensorRT version and SM of GPU 0 here (None when absent); only probed if engines exist."""
    from harness.env import gpu_sm, probe_gpus, probe_tensorrt, run_probe

    trt = run_probe(probe_tensorrt)
    return trt.get("version"), gpu_sm({"gpu": run_probe(probe_gpus)})


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _shape(shape: tuple[Any, ...]) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def _vqa_lines(contract: Any) -> list[str]:
    """Every graph's inputs and outputs (the VLM runtime feeds them per docs/vlm-contract.md)."""
    rows = [["graph", "direction", "name", "dtype", "shape"]]
    for role, io in contract.graphs.items():
        rows += [[role, "in", s.name, str(s.dtype), _shape(s.shape)] for s in io.inputs]
        rows += [[role, "out", s.name, str(s.dtype), _shape(s.shape)] for s in io.outputs]
    vqa = contract.manifest.vqa or {}
    summary = (
        f"vqa: family {vqa.get('family')}, image token {vqa.get('image_token_id')} x {vqa.get('tokens_per_image')}, "
        f"answer mode {vqa.get('answer_mode')}, tokenizer {vqa.get('tokenizer')}"
    )
    return ["tensors:", *_table(rows), summary]


def render(contract: Any, engines: list[EngineCheck]) -> str:
    """The resolved contract as plain aligned text."""
    manifest = contract.manifest
    lines = [f"{manifest.name} ({manifest.task})  {manifest.model_dir}", "graphs:"]
    graph_rows = [["role", "file", "opsets", "external data"]]
    for role, io in contract.graphs.items():
        opsets = ", ".join(f"{domain} {version}" for domain, version in io.opsets.items())
        graph_rows.append([role, manifest.graphs[role], opsets, ", ".join(io.external_data) or "-"])
    for check in engines:
        graph_rows.append(
            [check.role, check.file, f"TensorRT {check.trt_version}, SM {check.sm}, {check.precision}", "engine"]
        )
    lines += _table(graph_rows)
    modalities = {m.name: m for m in manifest.modalities}
    rows = [["graph", "input", "dtype", "shape", "fed by"]]
    for item in contract.inputs:
        if item.claim == "modality":
            m = modalities[item.owner]
            fed = f"modality {m.name} ({m.kind}, {m.layout}, C={m.channels}, missing={m.missing.fill})"
        elif item.claim == "mask":
            fed = f"presence mask of {item.owner} (1 present, 0 missing)"
        else:
            fed = f"constant ({item.owner})"
        rows.append([item.graph, item.spec.name, str(item.spec.dtype), _shape(item.spec.shape), fed])
    if manifest.task == "vqa":
        return "\n".join([*lines, *_vqa_lines(contract), "ok: manifest agrees with its graphs"])
    lines += ["inputs:", *_table(rows)]
    rows = [["graph", "output", "dtype", "shape", "role"]]
    rows += [[o.graph, o.spec.name, str(o.spec.dtype), _shape(o.spec.shape), o.role] for o in contract.outputs]
    if len(rows) > 1:
        lines += ["outputs:", *_table(rows)]
    batch = manifest.batch
    graph_batch = "dynamic" if contract.batch_dynamic else f"fixed {contract.batch_size}"
    lines.append(
        f"batch: graph {graph_batch}; manifest "
        + (f"dynamic, max {batch.max}" if batch.dynamic else f"fixed {batch.size}")
    )
    resize = manifest.effective_resize
    lines.append(f"resolution: resize {resize.to_dict()} ({'manifest' if manifest.resize is not None else 'default from input_size'}); "
                 f"evaluation {manifest.evaluation} (docs/manifest.md)")
    if manifest.classes:
        lines.append(
            f"classes: {len(manifest.classes)} ({', '.join(manifest.classes[:8])}{', ...' if len(manifest.classes) > 8 else ''}); ignore_index {manifest.ignore_index}"
        )
    for check in engines:
        if check.skipped:
            lines.append(
                f"note: {check.file}: {' and '.join(check.skipped)} not compared (not available on this machine)"
            )
    lines.append("ok: manifest agrees with its graphs")
    return "\n".join(lines)


@click.command("validate")
@click.argument("model_dir", type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the resolved contract as JSON.")
@click.option("--backend", default=None, help="Also check that this backend has what it needs (e.g. trt: an engine).")
@click.option("--backend-opt", "backend_opts", multiple=True, metavar="KEY=VALUE", help="Backend option (repeatable).")
def command(model_dir: str, as_json: bool, backend: str | None, backend_opts: tuple[str, ...]) -> int:
    """Check MODEL_DIR's manifest.json against its graphs and print the resolved contract."""
    from harness.backends import DEFAULT_BACKEND, graph_file_for, parse_backend
    from harness.manifest import load_manifest, validate_against_graph

    request = parse_backend(backend or DEFAULT_BACKEND, backend_opts) if backend is not None or backend_opts else None
    manifest = load_manifest(model_dir)
    contract = validate_against_graph(manifest)
    if request is not None and manifest.task == "segmentation":
        graph_file_for(manifest, request)
    engines = check_engines(contract, *_machine_facts()) if contract.engines else []
    if as_json:
        doc = contract.to_dict()
        doc["engine_checks"] = [check.__dict__ | {"skipped": list(check.skipped)} for check in engines]
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(render(contract, engines))
    return int(ExitCode.OK)
