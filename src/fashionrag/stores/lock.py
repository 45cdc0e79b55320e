"""An exclusive lock on an index directory: one writer at a time, readers never wait.

Why: a save publishes a new version and removes everything else, temporary folders included. Two builds into the
same folder would delete each other's work in progress (or, without a crash, the last one would silently win), so
every writer holds this lock from the start of its build to the end of its save, and a second writer fails at once
with the holder's pid. The lock is an OS file lock (``flock``) on ``DIR/.lock``: the kernel drops it when the
holder exits, even on ``kill -9``, so a stale lock file never blocks anyone. Within one process the lock is
re-entrant (the indexer holds it and the store's save takes it again).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..core.errors import IndexBusyError, InvalidInputError

LOCK_NAME = ".lock"

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


_HELD: dict[str, list[int]] = {}  # resolved lock path -> [fd, depth, thread id], for re-entry by the same thread
_GUARD = threading.Lock()


def holder(root: str | Path) -> str:
    """Who holds the lock of ``root``, as written in the lock file ('pid 123 since ...'), or ''."""
    try:
        return (Path(root) / LOCK_NAME).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


class IndexLock:
    """``with IndexLock(dir):`` -- exclusive writer lock on an index directory (created if missing).

    ``wait`` seconds to wait for another holder (default 0: fail at once with :class:`IndexBusyError`).
    """

    def __init__(self, root: str | Path, *, wait: float = 0.0, poll: float = 0.2) -> None:
        self.root = Path(root)
        self.wait = wait
        self.poll = poll
        self._key: str | None = None
        self._created = False

    def acquire(self) -> "IndexLock":
        if self.root.exists() and not self.root.is_dir():
            raise InvalidInputError(f"index location {self.root} is a file, not a directory; choose another --out")
        self._created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_NAME
        key = str(path.resolve())
        with _GUARD:
            if key in _HELD:
                if _HELD[key][2] != threading.get_ident():
                    raise IndexBusyError(f"index {self.root} is being built by another thread of this process "
                                         f"(pid {os.getpid()}); build into another folder with --out")
                _HELD[key][1] += 1
                self._key = key
                return self
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, self.wait)
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                who = holder(self.root) or "another process"
                raise IndexBusyError(f"index {self.root} is being built by {who}; wait for it to finish, or build "
                                     "into another folder with --out")
            time.sleep(self.poll)
        stamp = f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, stamp)
        with _GUARD:
            _HELD[key] = [fd, 1, threading.get_ident()]
        self._key = key
        return self

    def release(self) -> None:
        if self._key is None:
            return
        with _GUARD:
            entry = _HELD[self._key]
            entry[1] -= 1
            if entry[1] == 0:
                del _HELD[self._key]
                fd = entry[0]
                try:
                    os.ftruncate(fd, 0)
                    if self._created and [p.name for p in self.root.iterdir()] == [LOCK_NAME]:
                        # a build that failed before saving anything leaves no empty "index" behind
                        os.unlink(self.root / LOCK_NAME)
                        self.root.rmdir()
                except OSError:
                    pass
                finally:
                    _unlock(fd)
                    os.close(fd)
        self._key = None

    def __enter__(self) -> "IndexLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
