"""One writer per output folder: an advisory lock that names the process holding it.

Two commands writing one folder at once would interleave their stores, figures
and manifests (or fail on a rename with `OSError: Directory not empty`). Each
command that writes a folder holds `.lossatlas.lock` inside it for as long as
it runs, and removes it at the end. The lock is an `fcntl.flock` on that file,
so the operating system drops it when the process ends, killed or not: a stale
lock never blocks a rerun. The file itself records who holds it (pid, host, command line, start
time), which is what a second writer's error names.

On platforms without `fcntl` (Windows) there is no lock; everything else works.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lossatlas.lock"


class FolderInUse(ValueError):
    """Another process is writing the folder; the message names it."""


class FolderLock:
    """Hold `folder/.lossatlas.lock` until `release()`.

    Args:
        folder: the output folder; made if missing (and removed again on release
            when the lock was all that was put in it).
        command: the command line, recorded for the error another writer reads.

    Raises:
        FolderInUse: another process holds the folder's lock.
    """

    def __init__(self, folder: str | os.PathLike, command: str):
        self.folder = Path(folder)
        self.made = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / LOCK_NAME
        fd = self._acquire()
        self.fd: int | None = fd
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)

    def _acquire(self) -> int:
        """Open and lock the lock file; the descriptor.

        A holder removes the file as it releases, so a process that opened it
        just before may lock an unlinked file: it checks that its descriptor is
        still the file at the path, and tries again when not.
        """
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if fcntl is None:  # pragma: no cover - Windows
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise FolderInUse(
                    f"`--out {self.folder}` is being written by another lossatlas process "
                    f"({holder}); wait for it to finish, or choose another --out."
                ) from None
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def release(self) -> None:
        """Drop the lock and its file; remove the folder again if this command made it
        and put nothing in it. The file goes while still locked, so the folder is left
        as the command's own files make it."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        self.path.unlink(missing_ok=True)
        if self.made and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
        os.close(fd)


def _holder(fd: int) -> str:
    """'pid 123 on host, since 2026-12-03T12:00:00: lossatlas surface ...' from the lock file."""
    try:
        raw = os.pread(fd, 1 << 16, 0)
        record = json.loads(raw.decode() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "its details are not recorded yet"
    return (
        f"pid {record.get('pid')} on {record.get('host')}, since {record.get('started')}: "
        f"{record.get('command')}"
    )


def command_line() -> str:
    """The running command as a user would type it again."""
    return " ".join(["lossatlas", *sys.argv[1:]])
