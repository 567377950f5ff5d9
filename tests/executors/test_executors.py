"""Executor selection, flags and work units without Ray running: one-line errors with their
exit codes, sample blocks of whole batches, block outcomes joined like one local cell, and
Ray absent from every import path but ``--executor ray``'s."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.errors import ConfigError, ExitCode, InfrastructureError
from harness.executors import ExecutorSpec, executor_for, parse_resources
from harness.executors.ray import default_resources
from harness.runner.execute import Batching, CellOutcome
from harness.runner.units import blocks, join_outcomes


def test_resources_parse_and_bad_ones_name_the_flag() -> None:
    assert parse_resources('{"num_gpus": 0.5, "num_cpus": 2}') == (("num_cpus", 2.0), ("num_gpus", 0.5))
    for text, words in (("{num_gpus: 1}", "not JSON"), ("[1]", "JSON object"), ('{"gpus": 1}', "unknown key 'gpus'"),
                        ('{"num_gpus": -1}', ">= 0"), ('{"num_cpus": true}', ">= 0")):
        with pytest.raises(ConfigError, match="--ray-resources") as error:
            parse_resources(text)
        assert words in str(error.value) and "\n" not in str(error.value)


def test_gpu_backends_ask_for_a_gpu_and_the_rest_for_a_core() -> None:
    for name in ("ort:cuda", "ort:tensorrt", "trt"):
        assert default_resources(name) == {"num_gpus": 1.0}
    assert default_resources("ort:cpu") == {"num_cpus": 1.0}


def test_ray_flags_without_executor_ray_are_refused() -> None:
    with pytest.raises(ConfigError, match="--executor ray"):
        executor_for(ExecutorSpec("local", address="10.0.0.1:6379"))


def test_executor_ray_without_ray_installed_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    from harness.executors.ray import import_ray

    with pytest.raises(InfrastructureError, match=r"pip install 'mmharness\[ray\]'") as error:
        import_ray()
    assert "\n" not in str(error.value) and error.value.exit_code == ExitCode.INFRASTRUCTURE


def test_an_unreachable_ray_address_is_exit_3_in_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["run", "--scenarios", "emm", "--limit", "2", "--out", str(tmp_path / "out"), "--executor", "ray",
                 "--ray-address", f"127.0.0.1:{port}", "--progress", "off"])
    err = capsys.readouterr().err
    assert code == ExitCode.INFRASTRUCTURE and err.count("\n") == 1 and f"--ray-address 127.0.0.1:{port}" in err


def test_sample_blocks_are_whole_batches_covering_the_range_once() -> None:
    batching = Batching(size=4, fixed=False)
    assert blocks("cells", batching, 0, 30, 4) == [(0, 30)]
    assert blocks("samples", batching, 0, 30, 1) == [(0, 30)]
    assert blocks("samples", batching, 8, 30, 2) == [(8, 20), (20, 30)]  # 6 batches from 8: 3 per block
    parts = blocks("samples", batching, 0, 10, 8)  # 3 batches: at most 3 blocks
    assert parts == [(0, 4), (4, 8), (8, 10)]


def test_block_outcomes_join_in_sample_order_and_the_first_failure_wins() -> None:
    a, b = np.ones((4, 2, 2), np.int64), 2 * np.ones((2, 2, 2), np.int64)
    joined = join_outcomes([CellOutcome("ok", None, a, 4, 1.0), CellOutcome("ok", None, b, 4, 2.0)])
    assert joined.status == "ok" and joined.seconds == 3.0 and np.array_equal(joined.per_image, np.concatenate([a, b]))
    failed = join_outcomes([CellOutcome("ok", None, a, 4, 1.0), CellOutcome("failed", "NaN in block 2", None, 4, 1.0),
                            CellOutcome("failed", "NaN in block 3", None, 4, 1.0)])
    assert (failed.status, failed.reason, failed.per_image) == ("failed", "NaN in block 2", None)


def test_no_command_but_executor_ray_imports_ray(tmp_path: Path) -> None:
    """Help of run and bias, and a whole local run, leave ``ray`` unimported (it is slow to import)."""
    code = (
        "import sys, io, contextlib\n"
        "from harness.cli import main\n"
        f"argvs = (['run', '--help'], ['bias', '--help'], ['doctor', '--help'], ['run', '--scenarios', 'emm', '--limit', '2', '--out', {str(tmp_path / 'o')!r}, '--progress', 'off'])\n"
        "for argv in argvs:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_doctor_says_whether_ray_is_installed_and_why_a_cluster_is_unreachable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import metadata

    from harness.commands.doctor import ray_status

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        metadata.version("ray")
    except metadata.PackageNotFoundError:
        pytest.skip("ray is not installed")
    status = ray_status(f"127.0.0.1:{port}")
    assert status["installed"] and "nothing answers there" in status["cluster"]["error"]

    def absent(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", absent)
    assert ray_status(None) == {"installed": False, "fix": "pip install 'mmharness[ray]' for --executor ray"}
    assert main(["doctor"]) == 0
    assert "ray: not installed (pip install 'mmharness[ray]'" in capsys.readouterr().out
