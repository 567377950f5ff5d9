"""ONNX Runtime intra-op spin-waiting on a CPU shared with other work: on or off for ``ort:cpu``?

ONNX Runtime's intra-op worker threads spin (busy-wait) after each operator by default, which
buys a little latency on an idle machine and costs throughput as soon as anything else wants
the cores: the harness's own prefetch and scoring threads, or another process (CI runners,
shared dev boxes, a Jetson also running the camera pipeline). This script measures both sides
on the same session settings, interleaved so machine drift hits every variant alike:

1. bare ``InferenceSession.run`` loop over the clean batches of MODEL_DIR (images/s), each
   session alone in its own process, with and without one competing CPU-bound process, for
   ``session.intra_op.allow_spinning`` = 1 and 0;
2. ``mmharness run MODEL_DIR --scenarios emm`` end to end (wall seconds), with each setting.

Run by hand when the machine is quiet:  python benchmarks/bench_ort_spinning.py [MODEL_DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

SPIN_KEY = "session.intra_op.allow_spinning"
HOG = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def bare_loop_rate(session: Any, feeds: list[dict[str, Any]], seconds: float) -> float:
    """Images per second of back-to-back ``session.run`` calls over ``feeds`` for ``seconds``."""
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for feed in feeds:
            session.run(None, feed)
            images += len(next(iter(feed.values())))
    return images / (time.perf_counter() - start)


def sweep_seconds(model: str, spin: str, limit: int | None) -> float:
    """Wall time of ``mmharness run MODEL --scenarios emm`` with the given spinning setting."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "harness", "run", model, "--scenarios", "emm", "--out", out,
               "--backend-opt", f"{SPIN_KEY}={spin}"]
        if limit:
            cmd += ["--limit", str(limit)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "CI": "1"})
        return time.perf_counter() - start


def load_feeds(model: str, batch: int) -> tuple[str, list[dict[str, Any]]]:
    """Graph path and the clean batches of ``model`` (synthetic data, preprocessed as in a run)."""
    from harness.data import open_dataset
    from harness.manifest import load_manifest
    from harness.runner.feeds import load_clean

    manifest = load_manifest(model)
    clean = load_clean(manifest, open_dataset("synthetic"), None)
    feeds = [
        {m.input: clean.tensors[m.name][start : start + batch] for m in manifest.modalities}
        for start in range(0, len(clean) - batch + 1, batch)
    ]
    return manifest.graph_path(), feeds


def worker(model: str, batch: int, spin: str, seconds: float) -> None:
    """One session alone in its own process (two sessions in one process would share cores)."""
    import onnxruntime as ort

    graph, feeds = load_feeds(model, batch)
    options = ort.SessionOptions()
    options.add_session_config_entry(SPIN_KEY, spin)
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    bare_loop_rate(session, feeds[:1], 0.3)  # warm-up
    print(bare_loop_rate(session, feeds, seconds))


def measure(model: str, batch: int, spin: str, seconds: float) -> float:
    cmd = [sys.executable, __file__, model, "--batch", str(batch), "--seconds", str(seconds), "--worker", spin]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="models/mmss-synth-robust")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="per bare-loop measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="samples for the sweep part")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--worker", choices=("0", "1"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.model, args.batch, args.worker, args.seconds)
        return

    import onnxruntime as ort

    print(
        f"onnxruntime {ort.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
        f"{args.model}, batch {args.batch}, {args.seconds:.0f} s per figure, median of {args.repeats}"
    )
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for load in ("alone", "+1 busy process"):
            hog = subprocess.Popen([sys.executable, "-c", HOG]) if load != "alone" else None
            try:
                for spin in ("1", "0"):
                    rates.setdefault((load, spin), []).append(measure(args.model, args.batch, spin, args.seconds))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    for load in ("alone", "+1 busy process"):
        on, off = (statistics.median(rates[(load, spin)]) for spin in ("1", "0"))
        print(f"bare loop, {load:16s} spinning on {on:7.0f} img/s   off {off:7.0f} img/s   off/on {off / on:.2f}x")

    if args.no_sweep:
        return
    walls: dict[str, list[float]] = {"1": [], "0": []}
    for _ in range(args.repeats):
        for spin, seconds in walls.items():
            seconds.append(sweep_seconds(args.model, spin, args.limit))
    on, off = statistics.median(walls["1"]), statistics.median(walls["0"])
    print(f"mmharness run --scenarios emm:   spinning on {on:6.2f} s       off {off:6.2f} s       on/off {on / off:.2f}x")


if __name__ == "__main__":
    main()
