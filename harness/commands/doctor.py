"""``mmharness doctor [--json]``: the environment, and for each backend whether it can run here,
why not, and how to fix it. Says plainly when no GPU is present. Always exits 0: it reports.
"""

from __future__ import annotations

import json
from typing import Any

import click

from harness.errors import ExitCode


def ray_status(address: str | None) -> dict[str, Any]:
    """Whether Ray is installed (read from its metadata, not imported) and, given an address,
    what that cluster offers: CPUs, GPUs, memory, nodes (or why it cannot be reached)."""
    from importlib import metadata

    try:
        status: dict[str, Any] = {"installed": True, "version": metadata.version("ray")}
    except metadata.PackageNotFoundError:
        return {"installed": False, "fix": "pip install 'mmharness[ray]' for --executor ray"}
    if address is not None:
        from harness.errors import HarnessError
        from harness.executors.ray import cluster_offer

        try:
            status["cluster"] = {"address": address, **cluster_offer(address)}
        except HarnessError as error:
            status["cluster"] = {"address": address, "error": str(error)}
    return status


def diagnose() -> dict[str, Any]:
    """Environment provenance plus per-backend availability and warnings (JSON-ready)."""
    from harness.backends import BACKENDS, availability
    from harness.env import collect_environment

    env = collect_environment()
    backends = [availability(name).__dict__ for name in BACKENDS.names()]
    warnings = []
    ort = env.get("onnxruntime", {})
    if "warning" in ort:
        warnings.append(ort["warning"])
    gpu = env.get("gpu", {})
    return {"environment": env, "gpu_present": bool(gpu.get("present")), "backends": backends, "warnings": warnings}


def _version(section: Any) -> str:
    if isinstance(section, dict) and "version" in section:
        return str(section["version"])
    if isinstance(section, dict):
        return f"not available ({section.get('reason', 'unknown')})"
    return str(section)


def render(report: dict[str, Any]) -> str:
    env = report["environment"]
    gpu = env.get("gpu", {})
    python = env.get("python", {})
    lines = [f"mmharness {env.get('mmharness')} on Python {python.get('version')} ({python.get('platform')})"]
    cpu = env.get("cpu", {})
    if "model" in cpu:
        usable = cpu.get("usable_cores", cpu.get("logical_cores"))
        lines.append(f"CPU: {cpu['model']}, {usable} of {cpu.get('logical_cores')} logical cores usable")
    if report["gpu_present"]:
        for device in gpu.get("devices", []):
            lines.append(
                f"GPU {device.get('index')}: {device.get('name')} (SM {device.get('sm')}, driver {device.get('driver', '?')})"
            )
    else:
        lines.append(f"GPU: NONE. No NVIDIA GPU is usable on this machine ({gpu.get('reason', 'not detected')})")
    ort = env.get("onnxruntime", {})
    if "version" in ort:
        lines.append(
            f"onnxruntime {ort['version']} ({' + '.join(ort['distributions'])}); built with {', '.join(ort['build_providers'])}"
        )
    else:
        lines.append(f"onnxruntime: {ort.get('reason')}")
    lines.append(f"tensorrt: {_version(env.get('tensorrt'))}")
    lines.append(f"CUDA driver: {_version(env.get('cuda_driver'))}")
    jetson = env.get("jetson", {})
    if "l4t" in jetson:
        power = jetson.get("power_mode", {})
        lines.append(
            f"Jetson: {jetson.get('model', '?')}, L4T {jetson['l4t']}, power mode {power.get('name', power.get('reason'))}"
        )
    else:
        lines.append(f"Jetson: {jetson.get('reason', 'no')}")
    lines.append("backends:")
    for backend in report["backends"]:
        status = "yes" if backend["can_run"] else "NO "
        lines.append(f"  {backend['backend']:<13} {status} {backend['why']}")
        if not backend["can_run"] and backend["fix"]:
            lines.append(f"  {'':<13}     fix: {backend['fix']}")
    lines.extend(_ray_lines(report.get("ray", {})))
    for warning in report["warnings"]:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


def _ray_lines(ray: dict[str, Any]) -> list[str]:
    if not ray.get("installed"):
        return [f"ray: not installed ({ray.get('fix', '')})"]
    lines = [f"ray: {ray['version']} (--executor ray)"]
    cluster = ray.get("cluster")
    if cluster and "error" in cluster:
        lines.append(f"  cluster {cluster['address']}: {cluster['error']}")
    elif cluster:
        lines.append(f"  cluster {cluster['address']}: {cluster.get('nodes', 0):g} node(s), {cluster.get('cpu', 0):g} CPUs, "
                     f"{cluster.get('gpu', 0):g} GPUs, {cluster.get('memory', 0) / 2**30:.1f} GiB memory")
    return lines


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--ray-address", "ray_address", default=None, metavar="HOST:PORT",
              help="also connect to this Ray cluster and show what it offers (CPUs, GPUs, memory)")
def command(as_json: bool, ray_address: str | None = None) -> int:
    """Show the environment and which backends can run here (and how to fix the others)."""
    report = diagnose()
    report["ray"] = ray_status(ray_address)
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
    return int(ExitCode.OK)
