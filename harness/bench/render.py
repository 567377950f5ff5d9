"""Plain-text summary of a bench document (what ``mmharness bench`` prints on stdout)."""

from __future__ import annotations

from typing import Any


def render_text(doc: dict[str, Any]) -> str:
    """A short, aligned report: methodology first, so nobody quotes a figure without it."""
    result, config, method = doc["result"], doc["config"], doc["methodology"]
    lat = result["latency_ms"]
    lines = [
        f"mmharness bench: {doc['model']['name']} on {config['backend']}, batch {config['batch']}",
        f"method: {method['schedule']}",
        f"timing: {method['timing']}",
        f"percentiles: {method['percentiles']}; CoV = {method['cov']}",
        "",
        f"iterations {result['iterations']} (+{result['warmup_iterations']} warm-up) in {result['throughput']['wall_s']:.2f} s",
        "latency ms   mean {mean_ms:9.3f}  min {min_ms:9.3f}  max {max_ms:9.3f}  CoV {cov:.2%}".format(**lat),
        "             p50  {p50_ms:9.3f}  p90 {p90_ms:9.3f}  p95 {p95_ms:9.3f}  p99 {p99_ms:9.3f}".format(**lat),
        f"throughput   {result['throughput']['inferences_per_s']:.2f} inferences/s, {result['throughput']['samples_per_s']:.2f} samples/s",
    ]
    device = result["device_ms"]
    if "skipped" in device:
        lines.append(f"device split skipped: {device['skipped']}")
    else:
        for key, stats in device.items():
            lines.append(f"device {key:<12} mean {stats['mean_ms']:.3f}  p50 {stats['p50_ms']:.3f}  p99 {stats['p99_ms']:.3f}")
    lines.extend(_telemetry_lines(doc.get("telemetry") or {}))
    if doc.get("cells"):
        lines.append("")
        lines.append(f"cells: {method.get('cell_schedule', '')}")
        lines.append(f"{'cell':<48} {'p50 ms':>9} {'p99 ms':>9} {'p50 / clean':>11}")
        reference = doc.get("cells_reference")
        if reference:
            lines.append(f"{'clean (same cell schedule)':<48} {reference['latency_ms']['p50_ms']:9.3f} {reference['latency_ms']['p99_ms']:9.3f} {'1.000':>11}")
        for cell_id, entry in doc["cells"].items():
            ratio = entry["p50_ratio_vs_clean"]
            lines.append(
                f"{cell_id:<48} {entry['latency_ms']['p50_ms']:9.3f} {entry['latency_ms']['p99_ms']:9.3f} "
                f"{(f'{ratio:.3f}' if ratio is not None else '-'):>11}"
            )
    for warning in result["warnings"]:
        lines.append(f"WARNING: {warning}")
    return "\n".join(lines)


def _telemetry_lines(telemetry: dict[str, Any]) -> list[str]:
    lines = []
    power = telemetry.get("power")
    if power and power.get("status") == "ok":
        per_inf = power.get("energy_per_inference_mj")
        lines.append(
            f"power        {power['mean_power_w']:.2f} W mean ({power['source']}: {power['total_from']}), "
            f"energy {power['energy_j']:.2f} J" + (f", {per_inf:.2f} mJ per sample" if per_inf is not None else "")
        )
    elif power:
        lines.append(f"power        {power['source']}: {power['status']}")
    for failure in (power or {}).get("failures", []):
        lines.append(f"telemetry failure x{failure['count']}: {failure['message']}")
    config = telemetry.get("power_config") or {}
    if "nvpmodel" in config:
        lines.append(f"power mode   {config['nvpmodel']['name']} (id {config['nvpmodel']['id']})")
    if "jetson_clocks" in config:
        lines.append(f"clocks at max: {config['jetson_clocks'].get('clocks_at_max')}")
    for skipped in telemetry.get("skipped", []):
        lines.append(f"telemetry skipped: {skipped['source']}: {skipped['reason']}")
    return lines


def render_markdown(doc: dict[str, Any]) -> str:
    """The latency section appended to the Markdown report when ``bench.json`` sits beside
    ``results.json`` (so the job summary shows robustness and latency together)."""
    result, config, method = doc["result"], doc["config"], doc["methodology"]
    lat, tput = result["latency_ms"], result["throughput"]
    lines = [
        f"## Latency — {config['backend']}, batch {config['batch']}",
        "",
        "| p50 ms | p90 ms | p95 ms | p99 ms | mean ms | min ms | max ms | CoV | samples/s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {lat['p50_ms']:.3f} | {lat['p90_ms']:.3f} | {lat['p95_ms']:.3f} | {lat['p99_ms']:.3f} | {lat['mean_ms']:.3f} "
        f"| {lat['min_ms']:.3f} | {lat['max_ms']:.3f} | {lat['cov']:.2%} | "
        + (f"{tput['samples_per_s']:.2f}" if tput["samples_per_s"] is not None else "-")
        + " |",
        "",
        f"_{result['iterations']} iterations; {method['schedule']}. Percentiles {method['percentiles']}._",
    ]
    for warning in result["warnings"]:
        lines += ["", f"> ⚠ {warning}"]
    power = (doc.get("telemetry") or {}).get("power")
    if power and power.get("status") == "ok":
        per_inf = power.get("energy_per_inference_mj")
        lines += ["", f"Power: {power['mean_power_w']:.2f} W mean ({power['total_from']})"
                  + (f", {per_inf:.2f} mJ per sample" if per_inf is not None else "") + "."]
    else:
        skipped = (doc.get("telemetry") or {}).get("skipped", [])
        if skipped:
            lines += ["", "Power: not measured (" + "; ".join(f"{s['source']}: {s['reason']}" for s in skipped) + ")."]
    return "\n".join(lines) + "\n"
