"""Progress display: a rich bar (cells, samples/s, ETA) on a terminal, plain one-line
records in CI logs (``CI`` set or stderr not a TTY), or nothing. Chatter goes to stderr."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol

from harness.runner.config import ProgressMode


class Progress(Protocol):
    def start(self, cells: int, samples: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def cell_done(self, cell_id: str, status: str, figure: float | None, reason: str | None) -> None: ...

    def close(self) -> None: ...


class Silent:
    def start(self, cells: int, samples: int) -> None: ...

    def advance(self, samples: int) -> None: ...

    def cell_done(self, cell_id: str, status: str, figure: float | None, reason: str | None) -> None: ...

    def close(self) -> None: ...


class Plain:
    """One line per finished cell: ``[3/80] emm/missing=rgb ok mIoU 61.23 (412 img/s, eta 0:41)``."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr

    def start(self, cells: int, samples: int) -> None:
        self.total_cells, self.total, self.done, self.cells, self.t0 = cells, samples, 0, 0, time.perf_counter()
        print(f"mmharness: {cells} cell(s) to run", file=self.stream, flush=True)

    def advance(self, samples: int) -> None:
        self.done += samples

    def cell_done(self, cell_id: str, status: str, figure: float | None, reason: str | None) -> None:
        self.cells += 1
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        what = f"mIoU {figure:.2f}" if figure is not None else (reason or "")
        print(
            f"[{self.cells}/{self.total_cells}] {cell_id} {status} {what} ({rate:.0f} img/s, eta {_clock(eta)})",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None: ...


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Rich:
    """A live bar over samples, described by the current cell count."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} img/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )

    def start(self, cells: int, samples: int) -> None:
        self.cells_total, self.cells, self.t0, self.done = cells, 0, time.perf_counter(), 0
        self.bar.start()
        self.task = self.bar.add_task(f"cells 0/{cells}", total=samples, rate="-")

    def advance(self, samples: int) -> None:
        self.done += samples
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.update(self.task, advance=samples, rate=f"{rate:.0f}")

    def cell_done(self, cell_id: str, status: str, figure: float | None, reason: str | None) -> None:
        self.cells += 1
        self.bar.update(self.task, description=f"cells {self.cells}/{self.cells_total} {cell_id}")
        if status != "ok":
            self.bar.console.print(f"[red]{cell_id} {status}[/red]: {reason}")

    def close(self) -> None:
        self.bar.stop()


def make_progress(mode: ProgressMode) -> Progress:
    """``auto``: rich on an interactive stderr outside CI, plain lines otherwise."""
    if mode == "off":
        return Silent()
    if mode == "auto":
        interactive = sys.stderr.isatty() and not os.environ.get("CI")
        mode = "rich" if interactive else "plain"
    return Rich() if mode == "rich" else Plain()
