"""The ``mmharness`` command line: a thin, lazy click group.

Each subcommand lives in its own module ``harness/commands/<name>.py`` exposing a click
command named ``command``; it is imported only when invoked (or when its help is shown), so
``mmharness --help`` imports nothing heavy. Subcommands parse flags into a config object, make
one library call, render, and return an exit code. Every ``HarnessError`` becomes one line on
stderr and its documented exit code; anything else is an internal error (exit 4). SIGINT and
SIGTERM end a command with 130 and 143 (``harness.signals``); a write that fails for lack of
space is one line and exit 3 (``harness.paths.write_error``).
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

import click

from harness import __version__
from harness.errors import ExitCode, HarnessError

# name -> (module, one-line help shown by `mmharness --help` without importing the module)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.commands.run", "Evaluate a model under missing/noisy modalities (EMM, RMM, NM)."),
    "bias": ("harness.commands.bias", "Probe an MLLM for modality bias (does it use the image?)."),
    "bench": ("harness.commands.bench", "Measure latency and throughput of a deployed model."),
    "validate": ("harness.commands.validate", "Check a model directory's manifest against its graphs."),
    "init": ("harness.commands.init", "Write a manifest.json for a segmentation ONNX graph you bring."),
    "doctor": ("harness.commands.doctor", "Show the environment and which backends can run here."),
    "corruptions": ("harness.commands.corruptions", "List corruptions or preview them on an image."),
    "report": ("harness.commands.report", "Render results.json as Markdown, HTML or JUnit."),
    "gate": ("harness.commands.gate", "Compare results with thresholds/baseline; exit 1 on regression."),
    "merge": ("harness.commands.merge", "Merge shard results exactly."),
    "export": ("harness.commands.export", "Export a PyTorch model to ONNX + manifest (needs [export])."),
    "build": ("harness.commands.build", "Build TensorRT engines or ONNX Runtime FP16/INT8 variants."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _) in SUBCOMMANDS.items() if _module_exists(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS or not _module_exists(SUBCOMMANDS[cmd_name][0]):
            return None
        return import_module(SUBCOMMANDS[cmd_name][0]).command

    def invoke(self, ctx: click.Context) -> object:
        """Ctrl-C / SIGTERM outside a sweep's graceful stop: one line, exit 130 / 143."""
        from harness.signals import interrupted_error

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as interrupt:
            raise interrupted_error(interrupt) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    """True when ``harness/commands/<name>.py`` is present (checked without importing it)."""
    path = os.path.join(os.path.dirname(__file__), *module.split(".")[1:]) + ".py"
    return os.path.exists(path)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mmharness")
def cli() -> None:
    """mmharness: does the deployed multi-modal model still work when a sensor drops out,
    gets noisy, or when the image is ignored?

    Exit codes: 0 ok, 1 gate failed, 2 bad input, 3 infrastructure, 4 internal error,
    130 stopped by SIGINT, 143 stopped by SIGTERM (finished cells kept; rerun with --resume).
    """


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, map exceptions to one line and an exit code."""
    from harness.signals import sigterm_raises

    with sigterm_raises():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from harness.paths import write_error
    from harness.signals import interrupted_error

    try:
        result = cli.main(args=argv, prog_name="mmharness", standalone_mode=False)
    except HarnessError as error:
        click.echo(f"mmharness: error: {error}", err=True)
        return int(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as abort:
        stopped = interrupted_error(abort)
        click.echo(f"mmharness: error: {stopped}", err=True)
        return int(stopped.exit_code)
    except click.ClickException as error:  # a flag click refused: one line, like every other bad input
        ctx = getattr(error, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = " ".join(error.format_message().split())
        click.echo(f"mmharness: error: {message}{hint}", err=True)
        return int(ExitCode.BAD_INPUT)
    except click.exceptions.Exit as error:
        return int(error.exit_code)
    except Exception as error:  # a bug: exit 4, never Python's default 1 (which CI reads as "gate failed")
        converted = write_error(error, None) if isinstance(error, OSError) else error
        if isinstance(converted, HarnessError):  # no space or no permission, wherever the write happened
            click.echo(f"mmharness: error: {converted}", err=True)
            return int(converted.exit_code)
        import traceback

        traceback.print_exc()
        click.echo(
            f"mmharness: internal error (a bug in mmharness, exit {int(ExitCode.INTERNAL)}): "
            f"{type(error).__name__}: {error}; please report it with the traceback above",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
