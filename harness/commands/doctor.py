"""``mmharness doctor [--json]``: the environment, and for each backend whether it can run here,
why not, and how to fix it. Says plainly when no GPU is present. Always exits 0: it reports.
"""

from __future__ import annotations

import json
from typing import Any

import click

from harness.errors import ExitCode


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
    for warning in report["warnings"]:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def command(as_json: bool) -> int:
    """Show the environment and which backends can run here (and how to fix the others)."""
    report = diagnose()
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
    return int(ExitCode.OK)
