"""Does ``mmharness bench`` measure the model, or itself? Its timed loop against a bare one.

Both loops run the same ``onnxruntime.InferenceSession`` on the same feeds, interleaved over
repeats so machine drift hits both:

- bare: ``perf_counter_ns`` around ``session.run`` in a plain ``for`` loop;
- harness: ``harness.bench.measure.measure`` over the Backend/Session layer (``check_feed``,
  output dict), which is what ``mmharness bench`` reports.

Printed: the median per-iteration latency of each and their ratio (target: harness/bare
<= 1.03 on the shipped model), plus the p50 each would report. Run by hand, not in CI:

    python benchmarks/bench_latency.py [MODEL_DIR] [--iterations 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="models/mmss-synth-robust")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import onnxruntime as ort

    from harness.bench.api import BenchConfig, _feed_builder, make_step
    from harness.bench.backend import resolve_backend
    from harness.bench.measure import Schedule, measure
    from harness.bench.stats import LatencyStats
    from harness.manifest import load_manifest
    from harness.scenarios.cells import clean_cell

    config = BenchConfig(model_dir=args.model, batch=args.batch, telemetry="off")
    manifest = load_manifest(args.model)
    schedule = Schedule(warmup_s=0.5, min_iterations=args.iterations, min_duration_s=0.0, max_iterations=args.iterations)
    with resolve_backend(config, manifest).open() as session:
        builder, rows = _feed_builder(config, manifest, session)
        feeds = builder(clean_cell(), rows)
        bare_session = ort.InferenceSession(manifest.graph_path(), providers=["CPUExecutionProvider"])
        names = [o.name for o in bare_session.get_outputs()]
        harness_ms: list[float] = []
        bare_ms: list[float] = []
        for _ in range(args.repeats):
            harness_ms += measure(make_step(session, feeds), schedule).latencies_ms
            bare_ms += _bare(bare_session, names, feeds, args.iterations)
    h, b = LatencyStats.from_ms(harness_ms), LatencyStats.from_ms(bare_ms)
    print(f"model {manifest.name}, batch {args.batch}, {args.iterations} iterations x {args.repeats} repeats")
    print(f"bare InferenceSession.run   median {statistics.median(bare_ms):.4f} ms  p50 {b.p50_ms:.4f}  p99 {b.p99_ms:.4f}")
    print(f"mmharness bench loop        median {statistics.median(harness_ms):.4f} ms  p50 {h.p50_ms:.4f}  p99 {h.p99_ms:.4f}")
    print(f"ratio harness/bare (median) {statistics.median(harness_ms) / statistics.median(bare_ms):.3f}  (target <= 1.03)")


def _bare(session, names, feeds, iterations):  # type: ignore[no-untyped-def]
    for _ in range(20):
        session.run(names, feeds)
    out = []
    for _ in range(iterations):
        t0 = time.perf_counter_ns()
        session.run(names, feeds)
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


if __name__ == "__main__":
    main()
