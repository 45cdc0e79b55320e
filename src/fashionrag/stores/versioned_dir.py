"""Atomic, verified index directories.

Layout of an index directory::

    index/
      CURRENT            name of the live version (replaced atomically with os.replace)
      manifest.json      a mirror of the live version's manifest, for people and tools (not trusted on load)
      v-<time>-<rand>/   one complete version: its data files and its own manifest.json (with sha256s)

A save writes a whole new version into a hidden temporary directory, fsyncs every file, renames the
directory into place, and only then switches ``CURRENT``. A save killed at any point before that switch
leaves the previous version untouched and loadable; leftovers are removed by the next save.
One writer per directory at a time: a save holds the directory's :class:`~.lock.IndexLock` (so does a whole
``index build``), and a second writer fails at once with the holder's pid. Readers take no lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ..core.errors import IndexCorruptError
from .lock import IndexLock

POINTER = "CURRENT"
MANIFEST = "manifest.json"
_VERSION_PREFIX = "v-"
_TMP_PREFIX = ".tmp-"

REBUILD_HINT = "rebuild it with `fashionrag index build ...`"


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_dir(path: Path) -> None:
    # Makes renames inside ``path`` durable. Not possible on every OS (Windows); best effort there.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _write_replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class VersionWriter:
    """Collects the files of one new version, then :meth:`commit` makes it the live one.

    Use as a context manager: leaving the block with an exception removes the partial version.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = IndexLock(self.root).acquire()  # creates root; IndexBusyError while another process writes
        try:
            self.tmp = self.root / f"{_TMP_PREFIX}{uuid.uuid4().hex}"
            self.tmp.mkdir()
        except BaseException:
            self._lock.release()
            raise
        self.files: dict[str, str] = {}
        self.version: str | None = None

    def __enter__(self) -> "VersionWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.version is None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            self._lock.release()

    def path(self, name: str) -> Path:
        """Where to write file ``name``; call :meth:`add` once it is written."""
        return self.tmp / name

    def add(self, name: str) -> None:
        """Register a file written at :meth:`path`: fsync it and record its sha256."""
        path = self.path(name)
        _fsync_file(path)
        self.files[name] = sha256_file(path)

    def write_bytes(self, name: str, data: bytes) -> None:
        with open(self.path(name), "wb") as fh:
            fh.write(data)
        self.add(name)

    def commit(self, manifest: dict[str, Any]) -> str:
        """Write the manifest (with the files' sha256s), publish the version, drop older ones."""
        manifest = {**manifest, "files": dict(self.files)}
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        with open(self.path(MANIFEST), "wb") as fh:
            fh.write(manifest_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.tmp)
        version = f"{_VERSION_PREFIX}{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        os.rename(self.tmp, self.root / version)
        _fsync_dir(self.root)
        # The switch: before this line the old version is live, after it the new one.
        _write_replace(self.root / POINTER, (version + "\n").encode())
        _fsync_dir(self.root)
        self.version = version
        _write_replace(self.root / MANIFEST, manifest_bytes)
        remove_stale(self.root, keep=version)
        return version


def remove_stale(root: Path, keep: str) -> None:
    """Delete every version other than ``keep`` and temporary leftovers of killed saves."""
    for entry in root.iterdir():
        name = entry.name
        if name == keep:
            continue
        if name.startswith(_VERSION_PREFIX) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(_TMP_PREFIX):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def current_version(root: str | Path) -> Path:
    """The live version directory of ``root``; IndexCorruptError with a rebuild hint when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise IndexCorruptError(f"no index at {root}: build one with `fashionrag index build ...`")
    pointer = root / POINTER
    if not pointer.is_file():
        raise IndexCorruptError(f"{root} is not a complete index (no {POINTER} file); {REBUILD_HINT}")
    name = pointer.read_text(encoding="utf-8", errors="replace").strip()
    version = root / name
    if not name or "/" in name or "\\" in name or not version.is_dir():
        raise IndexCorruptError(f"{root}/{POINTER} points to a missing version {name!r}; {REBUILD_HINT}")
    return version


def read_manifest_dict(version: Path) -> dict[str, Any]:
    path = version / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorruptError(f"{version} has no {MANIFEST}; {REBUILD_HINT}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc}); {REBUILD_HINT}") from None
    if not isinstance(data, dict):
        raise IndexCorruptError(f"{path} is not a JSON object; {REBUILD_HINT}")
    return data


def verify_files(version: Path, files: dict[str, str], required: tuple[str, ...]) -> None:
    """Every required file is listed, present, and has the sha256 the manifest recorded."""
    for name in required:
        if name not in files:
            raise IndexCorruptError(f"manifest of {version} does not list {name}; {REBUILD_HINT}")
    for name, digest in files.items():
        path = version / name
        if "/" in name or not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing; {REBUILD_HINT}")
        if sha256_file(path) != digest:
            raise IndexCorruptError(
                f"index file {path} is corrupt or truncated (sha256 differs from the manifest); {REBUILD_HINT}"
            )
