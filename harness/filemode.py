"""The mode a new file gets: ``0o666 & ~umask``, as ``open()`` would give it.

``tempfile.mkstemp`` creates 0600 files so nobody else can read them before they are
complete; an atomic writer that then renames its temporary file into place must widen the mode
back to what a plain write would have produced, or ``manifest.json`` ends up 0600 beside a 0644
graph. The umask is read from ``/proc/self/status`` where it is exposed (Linux 4.7+): the
``os.umask`` round trip that the fallback uses briefly sets it process-wide, which another
thread creating a file at that moment would see.
"""

from __future__ import annotations

import os
import threading

_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, without changing it where the OS lets us read it."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` would create ``path`` with."""
    return 0o666 & ~current_umask()


def publish(fd: int) -> None:
    """Give the temporary file behind ``fd`` the mode of a freshly created file, before it is renamed into place."""
    os.fchmod(fd, new_file_mode())
