"""Every path a command reads or writes, checked before any work starts, and every path a
data or model file names, confined to its folder.

Why up front: an output that cannot be written (an existing file where a folder is needed, a
folder where a file is needed, a path under a file, a read-only folder) used to surface as a
traceback after the whole sweep had run. Why confinement after resolving symlinks: a dataset
or model folder is data someone else wrote; ``../x``, ``/etc/passwd`` or a symlink out of it
must not be read. Writes that fail for lack of space become one line and exit 3
(``write_error``), whichever module was writing.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from harness.errors import BadInputError, ConfigError, HarnessError, InfrastructureError

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _blocking_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (a path under a file)."""
    for parent in path.absolute().parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def _nearest_existing(path: Path) -> Path:
    for candidate in (path.absolute(), *path.absolute().parents):
        if candidate.exists():
            return candidate
    return Path("/")


def _writable(folder: Path, flag: str, path: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: folder {folder} is not writable; choose another location or fix its permissions")


def output_dir(path: Path, flag: str, files: Iterable[str] = (), folders: Iterable[str] = ()) -> Path:
    """``path`` can be created or written as a folder; the ``files`` it will hold are not folders
    and its ``folders`` are not files. Returns ``path``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: is an existing file, but a folder is needed; pass a folder path")
    blocker = _blocking_ancestor(path)
    if blocker is not None:
        raise ConfigError(f"{flag} {path}: {blocker} is a file, so no folder can be made under it; pass a folder path")
    for name in files:
        if (path / name).is_dir():
            raise ConfigError(f"{flag} {path}: {path / name} is a folder where the output file {name} must go; remove it or choose another {flag}")
    for name in folders:
        if (path / name).exists() and not (path / name).is_dir():
            raise ConfigError(f"{flag} {path}: {path / name} is a file where the folder {name} must go; remove it or choose another {flag}")
    _writable(_nearest_existing(path), flag, path)
    return path


RUN_FILES = ("results.json", "per_image.npz", "run.json", "compare.json", "samples.npz")  # what `run` writes into --out
RUN_FOLDERS = ("cells", "clean-cache")


def check_run_paths(out: Path, resume: bool, overwrite: bool, compare: Iterable[str] = ()) -> None:
    """``mmharness run``'s flags about its output folder, before anything loads."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: --resume keeps the finished cells in --out, "
                          "--overwrite deletes them; give one of them")
    compared = ("compare",) if tuple(compare) else ()  # run --compare: each candidate's sweep goes under OUT/compare
    output_dir(out, "--out", files=RUN_FILES, folders=RUN_FOLDERS + compared)


def output_file(path: Path, flag: str) -> Path:
    """``path`` can be written as a file (not a folder, not under a file, in a writable folder)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder where an output file must go; remove it or pass a file path")
    blocker = _blocking_ancestor(path)
    if blocker is not None:
        raise ConfigError(f"{flag} {path}: {blocker} is a file, so nothing can be written under it; pass a file path")
    _writable(_nearest_existing(path.parent), flag, path)
    return path


def input_file(path: Path, flag: str, error: type[BadInputError] = ConfigError) -> Path:
    """``path`` exists and is a readable file."""
    path = Path(path)
    if not path.exists():
        raise error(f"{flag} {path}: not found; check the path")
    if path.is_dir():
        raise error(f"{flag} {path}: is a folder, but a file is needed")
    if not os.access(path, os.R_OK):
        raise error(f"{flag} {path}: not readable; fix its permissions")
    return path


def input_dir(path: Path, flag: str, error: type[BadInputError] = ConfigError) -> Path:
    """``path`` exists and is a folder."""
    path = Path(path)
    if not path.exists():
        raise error(f"{flag} {path}: not found; check the path")
    if not path.is_dir():
        raise error(f"{flag} {path}: is a file, but a folder is needed")
    return path


def confined(root: Path, name: str, where: str, error: type[BadInputError]) -> Path:
    """``root / name`` resolved (symlinks followed), refused unless it stays inside ``root``.

    ``where`` names the file and field that holds ``name`` (``data.jsonl:3: image``)."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise error(f"{where}: expected a relative path inside {root}, got {name!r}")
    if os.path.isabs(name):
        raise error(f"{where}: {name!r} is an absolute path; write it relative to {root} (paths must stay inside it)")
    base = Path(root).resolve()
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise error(f"{where}: {name!r} resolves to {target}, outside {base}; refused (paths and symlinks must stay inside it)")
    return target


def reserve(path: Path) -> None:
    """Allocate every block of the file at ``path`` now (``posix_fallocate``): writing through a
    memory map into a sparse file on a full disk raises SIGBUS, which no handler can turn into
    a clean error; a reservation that does not fit fails here with ENOSPC instead."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None:  # not on this OS: the map stays sparse, as before
        return
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size:
            try:
                fallocate(handle.fileno(), 0, size)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without it: as before
                    raise


def mount_point(path: Path) -> Path:
    """The mount point holding ``path`` (the highest ancestor on the same device)."""
    current = _nearest_existing(Path(path))
    try:
        device = current.stat().st_dev
        while current.parent != current and current.parent.stat().st_dev == device:
            current = current.parent
    except OSError:
        pass
    return current


def write_error(error: OSError, path: Path | str | None) -> HarnessError | OSError:
    """A failed write as one line: no space / quota -> exit 3 naming the device and the file;
    a permission or read-only refusal -> exit 3 naming the file; anything else unchanged."""
    named = path if path is not None else error.filename
    target = Path(named) if named else None
    what = str(target) if target is not None else "an output file"
    if error.errno in _FULL:
        device = mount_point(target) if target is not None else "the output's disk"
        return InfrastructureError(f"no space left on {device} while writing {what}; free space and rerun with --resume")
    if error.errno in _DENIED:
        return InfrastructureError(f"cannot write {what}: {os.strerror(error.errno)}; fix the permissions or choose another output location")
    return error
