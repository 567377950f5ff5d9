"""One exception tree and the documented exit codes of every ``mmharness`` command.

::

    HarnessError                      base; carries the exit code the CLI returns
    ├── BadInputError        (2)      anything the user supplied is wrong
    │   ├── ManifestError             manifest.json or its graphs disagree
    │   ├── DataError                 dataset folders, JSONL, labels
    │   ├── ConfigError               CLI flags, thresholds, scenario names
    │   └── ResultsError              corrupt, foreign or mismatched results files
    ├── InfrastructureError  (3)      backend unavailable, engine build failed, no GPU
    │   └── BackendUnavailable
    └── InternalError        (4)      a bug in mmharness

A gate that fails is not an exception: the gate returns ``ExitCode.GATE_FAILED`` (1). A
command stopped by SIGINT/SIGTERM exits 130/143 (``harness.signals``) after keeping its
finished work.
Messages are one line: what, where (file and field), expected, got, how to fix.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. CI must tell "regressed" from "crashed", so they differ."""

    OK = 0
    GATE_FAILED = 1
    BAD_INPUT = 2
    INFRASTRUCTURE = 3
    INTERNAL = 4
    INTERRUPTED = 130  # SIGINT (128 + 2): finished cells kept, resume with --resume
    TERMINATED = 143  # SIGTERM (128 + 15)


class HarnessError(Exception):
    """Base of every error mmharness raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class BadInputError(HarnessError, ValueError):
    """Something the user supplied is wrong; the message says which file/field and the fix."""

    exit_code = ExitCode.BAD_INPUT


class ManifestError(BadInputError):
    """manifest.json is malformed or does not match its graphs."""


class DataError(BadInputError):
    """A dataset on disk (folders, labels, JSONL) is missing pieces or holds invalid values."""


class ConfigError(BadInputError):
    """A CLI flag, thresholds file or scenario specification is invalid."""


class ResultsError(BadInputError):
    """A results file is corrupt, foreign, or does not match the run it is combined with."""


class InfrastructureError(HarnessError, RuntimeError):
    """The environment cannot do what was asked (no GPU, provider missing, build failed)."""

    exit_code = ExitCode.INFRASTRUCTURE


class BackendUnavailable(InfrastructureError):
    """A requested backend cannot run here; the message says what is installed and what to install."""


class InternalError(HarnessError, RuntimeError):
    """An invariant of mmharness itself broke: a bug to report."""

    exit_code = ExitCode.INTERNAL
