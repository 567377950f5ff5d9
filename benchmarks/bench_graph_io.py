"""Reading a model's inputs/outputs: ours (weight payloads skipped at the wire level) vs
``onnx.load(path, load_external_data=False)`` (parses every embedded weight), in one run.

A single-MatMul graph with one embedded float32 initializer of ``--mib`` MiB; time per read
is the median over ``--repeats`` reads after one warm-up read. Both readers are asked for the
same thing and their inputs/outputs are checked equal before any figure is printed.

    nice -n 10 python benchmarks/bench_graph_io.py [--mib 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.manifest.onnx_io import _load_structure


def build(path: str, mib: int) -> None:
    side = int((mib * 2**20 / 4) ** 0.5)
    weight = numpy_helper.from_array(np.ones((side, side), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", side])],
        [weight],
    )
    onnx.save(helper.make_model(graph), path)


def median_ms(read, repeats: int) -> float:
    read()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        read()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        build(path, args.mib)
        ours, peer = _load_structure(path), onnx.load(path, load_external_data=False)
        assert ours.graph.input == peer.graph.input and ours.graph.output == peer.graph.output
        ours_ms = median_ms(lambda: _load_structure(path), args.repeats)
        peer_ms = median_ms(lambda: onnx.load(path, load_external_data=False), args.repeats)
        size = os.path.getsize(path) / 2**20
    print(f"model {size:.1f} MiB embedded weights, median of {args.repeats}")
    print(f"  ours (wire-level skip)          {ours_ms:8.2f} ms")
    print(f"  onnx.load(load_external_data=F) {peer_ms:8.2f} ms")
    print(f"  ratio peer/ours                 {peer_ms / ours_ms:8.1f}x")


if __name__ == "__main__":
    main()
