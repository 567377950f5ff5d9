"""Headless Chromium for the report tests: render a page, keep its console and the DOM the
browser built, take screenshots. No CDP client is needed: ``--enable-logging=stderr`` prints
every console message as an ``INFO:CONSOLE`` line and ``--dump-dom`` serialises the DOM."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "report-shots"  # ignored by git; listed after the run


def chromium() -> str:
    """The browser binary; absent: a skip for a non-root user, a failure for root (the README's
    test command installs Debian's chromium when it runs as root, as CI does)."""
    found = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if found:
        return found
    if os.geteuid() != 0 or os.environ.get("MMHARNESS_SKIP_BROWSER"):
        pytest.skip("no chromium on PATH (as root the README test command installs it: apt-get install -y chromium)")
    pytest.fail("no chromium on PATH although running as root: the README test command should have installed it "
                "(apt-get install -y chromium); set MMHARNESS_SKIP_BROWSER=1 to skip on purpose")


@dataclass
class Rendered:
    dom: str
    console: list[str]


def render(page: Path, profile: Path) -> Rendered:
    """The DOM after load and every console message the page produced."""
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-1500:]
    return Rendered(done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line])


def screenshot(page: Path, out: Path, profile: Path, height: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size=1400,{height}", f"--screenshot={out}", page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0 and out.exists(), done.stderr[-1500:]
    return out


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self):  # noqa: ANN201 - generator of Nodes
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.walk() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


VOID = {"img", "meta", "br", "hr", "input", "link"}


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def parse(dom: str) -> Node:
    tree = _Tree()
    tree.feed(dom)
    return tree.root
