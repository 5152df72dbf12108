"""Writing a snapshot's files as a durable writer does: owner-only, never through a
link, flushed to the disk (file, then directory) before anything points at them.

A publish reads the data dir without its lock (a run may hold it), so the data
dir's umask is not in force: every file and directory here is created with its
mode (0600, 0700) explicitly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from scrapeline.errors import PublishError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def private_dir(path: Path) -> Path:
    """Make ``path`` (0700) if it is not there; PublishError if it cannot be."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot make {path}: {exc.strerror or exc}") from exc
    return path


@contextlib.contextmanager
def new_file(path: Path) -> Iterator[BinaryIO]:
    """A new file at ``path``, 0600, opened for writing; flushed and fsynced when the
    block ends. PublishError when it exists or cannot be written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as out:
        try:
            yield out
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise PublishError(f"cannot write {path}: {exc.strerror or exc}") from exc


def settle(path: Path) -> None:
    """Make a file another library wrote owner-only and durable."""
    try:
        os.chmod(path, 0o600, follow_symlinks=False)
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PublishError(f"cannot write {path}: {exc.strerror or exc}") from exc


def sync_dir(path: Path) -> None:
    """Flush a directory's entries (new names, renames) to the disk."""
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
