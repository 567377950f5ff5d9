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
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'cv2', 'transformers', 'scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"heavy modules imported eagerly: {out}"


def test_unknown_subcommand_is_bad_input(capsys):
    assert main(["no-such-command"]) == ExitCode.BAD_INPUT
