"""The CLI skeleton: fast help, lazy imports, documented exit codes."""

from __future__ import annotations

import subprocess
import sys

from harness.cli import main
from harness.errors import ExitCode


def test_help_lists_commands_and_exit_codes(capsys):
    assert main(["--help"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "Exit codes" in out


def test_importing_cli_pulls_no_heavy_module():
    code = (
        "import sys, harness, harness.cli, harness.metrics;"
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'cv2', 'transformers', 'scipy', 'ray') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"heavy modules imported eagerly: {out}"


def test_unknown_subcommand_is_bad_input(capsys):
    assert main(["no-such-command"]) == ExitCode.BAD_INPUT


def test_help_answers_without_importing_anything_heavy():
    """`mmharness --help` (and `validate --help`, `doctor --help`) load no runtime, no numpy."""
    code = (
        "import sys, io, contextlib\n"
        "from harness.cli import main\n"
        "for argv in (['--help'], ['validate', '--help'], ['doctor', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv\n"
        "heavy = ('torch', 'onnxruntime', 'onnx', 'tensorrt', 'cv2', 'transformers', 'scipy', 'rich', 'numpy', 'jsonschema', 'ray')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"heavy modules imported by --help: {out}"


def test_an_unexpected_exception_is_exit_4_not_1(monkeypatch, capsys):
    """A bug must not exit 1: CI reads 1 as "the gate failed" (a regression of the model)."""
    import click

    from harness import cli as cli_module

    @click.command("boom")
    def boom() -> int:
        raise KeyError("no such thing")

    monkeypatch.setitem(cli_module.SUBCOMMANDS, "boom", ("harness.commands.doctor", "test only"))
    monkeypatch.setattr(cli_module.LazyGroup, "get_command", lambda self, ctx, name: boom if name == "boom" else None)
    assert main(["boom"]) == ExitCode.INTERNAL == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err
    assert err.strip().splitlines()[-1].startswith("mmharness: internal error")


def test_harness_error_is_one_line_with_its_exit_code(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "absent")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mmharness: error: ") and "absent" in err


def test_ci_runs_exactly_the_readme_test_command():
    """`.ci/run` runs the README's test-command block verbatim; the block installs the CPU torch
    first (a bare torch requirement would pull a CUDA build) and runs the whole suite."""
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md"), encoding="utf-8") as handle:
        block = re.search(r"<!-- test-command -->\n```bash\n(.+?)\n```\n<!-- /test-command -->", handle.read(), re.S)
    assert block, "README.md lost its <!-- test-command --> block"
    command = block.group(1)
    out = subprocess.run(
        ["bash", os.path.join(root, ".ci", "run")], env={**os.environ, "CI_RUN_DRY": "1"},
        capture_output=True, text=True, check=True,
    ).stdout
    assert out == f"+ {command}\n"
    assert command.index("torch==2.13.0") < command.index("-e '.[test")
    assert command.rstrip().endswith("pytest -q -n 2 --dist loadgroup")  # tests/executors share one embedded Ray
    assert ",ray]'" in command  # the Ray executor's tests run in CI
