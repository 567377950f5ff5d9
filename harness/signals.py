"""SIGINT and SIGTERM end a command cleanly, with the conventional codes 130 and 143.

Inside a sweep (``graceful()``) the first signal only asks to stop: the cell in flight
finishes and is stored, then ``Interrupted`` says how many cells are kept and how to resume.
A second signal stops at once. Outside a sweep, SIGTERM is turned into ``Terminated`` (a
``KeyboardInterrupt``) so both signals unwind through the same ``finally`` blocks instead of
killing the process mid-write.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from harness.errors import ExitCode, HarnessError

_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so cleanup runs; the CLI exits 143."""


class Interrupted(HarnessError):
    """A command stopped on a signal after finishing its unit of work in flight."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = _CODES.get(signal.Signals(signum), ExitCode.INTERRUPTED)


def exit_code_of(error: BaseException) -> ExitCode:
    """130 for Ctrl-C, 143 for SIGTERM (``error`` is the interrupt or click's Abort wrapping it)."""
    cause = error if isinstance(error, KeyboardInterrupt) else error.__cause__ or error.__context__
    return ExitCode.TERMINATED if isinstance(cause, Terminated) else ExitCode.INTERRUPTED


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises ``Terminated`` (main thread only: other threads cannot
    own handlers); the previous handler comes back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_error(error: BaseException) -> Interrupted:
    """The one-line error for a signal that arrived outside a sweep's graceful stop."""
    code = exit_code_of(error)
    signum = signal.SIGTERM if code == ExitCode.TERMINATED else signal.SIGINT
    return Interrupted(signum, f"interrupted by {signum.name}; files already written are kept "
                               "(a run's finished cells: rerun it with --resume)")


class StopRequest:
    """Set by the first signal inside ``graceful()``; polled between units of work."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self, message: str) -> None:
        """Raise ``Interrupted(message)`` when a stop was asked for."""
        if self.signum is not None:
            name = signal.Signals(self.signum).name
            raise Interrupted(self.signum, f"stopped on {name}: {message}")


@contextmanager
def graceful(what: str = "the cell in flight") -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set ``StopRequest.signum`` (a second one interrupts now)."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def ask(signum: int, frame: FrameType | None) -> None:
        if stop.signum is not None:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        stop.signum = signum
        print(f"mmharness: {signal.Signals(signum).name} received: stopping after {what} (send it again to stop now)",
              file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, ask) for sig in _CODES}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
