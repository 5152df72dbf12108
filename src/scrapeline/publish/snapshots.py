"""Where snapshots live, and how ``latest`` moves between them.

    DATA_DIR/published/
      20260301T060000Z/         a snapshot: <table>.parquet each, manifest.json,
                                optionally dataset.duckdb and <table>.csv
      20260301T060000Z-2/       a second one taken in the same second
      latest -> 20260301T060000Z-2    a relative symbolic link
      .staging-<id>/            a snapshot being written (never read)
      .lock                     held by the publish under way

A snapshot is written in its staging directory and renamed to its id only when it
is complete and its rules passed, so a reader never sees one half-written; then
``latest`` is replaced atomically (a new link made beside it, ``os.replace``-d
over it): a reader opening ``latest/matches.parquet`` gets the old snapshot or the
new one, never neither. Snapshots are immutable once renamed.

One publish at a time per data dir (an OS lock on ``.lock``, released by the OS
if the process dies), so retention and ``latest`` never race; a staging directory
left by a publish that died is removed by the next one.

    >>> snapshot_id(datetime(2026, 3, 1, 6, 0, tzinfo=UTC), {"20260301T060000Z"})
    '20260301T060000Z-2'
    >>> to_remove(["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"], keep=1,
    ...           latest="20260101T000000Z")
    ['20260102T000000Z']
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from collections.abc import Container, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scrapeline.errors import PublishError, SnapshotNotFound
from scrapeline.publish.files import private_dir, sync_dir

PUBLISHED = "published"
LATEST = "latest"
MANIFEST = "manifest.json"
STAGING = ".staging-"
KEEP = 10
"""Snapshots retention keeps unless told (``publish --keep``)."""

_ID = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


def snapshot_id(now: datetime, taken: Container[str]) -> str:
    """The id of a snapshot taken at ``now``: UTC ``YYYYMMDDTHHMMSSZ``, with ``-2``,
    ``-3``, ... when ``taken`` already has it."""
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}-{n}"
    return found


def is_snapshot_id(name: str) -> bool:
    return _ID.match(name) is not None


def _order(name: str) -> tuple[str, int]:
    """Oldest first: by time, then by the ``-N`` taken in the same second."""
    match = _ID.match(name)
    assert match is not None
    return match.group(1), int(match.group(2) or 1)


def to_remove(ids: Sequence[str], *, keep: int, latest: str | None) -> list[str]:
    """The snapshots retention removes: all but the newest ``keep`` (at least one is
    kept), never the one ``latest`` points at; oldest first."""
    ordered = sorted(ids, key=_order)
    kept = set(ordered[-max(keep, 1) :])
    return [i for i in ordered if i not in kept and i != latest]


class Published:
    """The ``published`` directory of a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / PUBLISHED

    # -- reading ---------------------------------------------------------------

    def ids(self) -> list[str]:
        """The snapshots there are, oldest first."""
        if not self.path.is_dir():
            return []
        names = [p.name for p in self.path.iterdir() if is_snapshot_id(p.name) and p.is_dir()]
        return sorted(names, key=_order)

    def latest(self) -> str | None:
        """The id ``latest`` points at, or None when nothing was published."""
        try:
            target = os.readlink(self.path / LATEST)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise PublishError(f"{self.path / LATEST} is not a link: {exc.strerror}") from exc
        return Path(target).name

    def manifest(self, snapshot: str) -> dict[str, Any]:
        """The manifest of snapshot ``snapshot``; SnapshotNotFound if there is none."""
        path = self.path / snapshot / MANIFEST
        if not is_snapshot_id(snapshot) or not path.is_file():
            raise self.not_found(snapshot)
        try:
            found: dict[str, Any] = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise PublishError(f"cannot read {path}: {exc}") from exc
        return found

    def not_found(self, snapshot: str) -> SnapshotNotFound:
        known = self.ids()
        listed = ", ".join(known[-5:]) if known else "none"
        return SnapshotNotFound(
            f"no snapshot {snapshot!r} in {self.path} (the newest: {listed}; "
            "scrapeline snapshots lists them)"
        )

    # -- writing (under lock()) ------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the publish lock; PublishError when another publish holds it."""
        private_dir(self.path.parent)
        private_dir(self.path)
        fd = os.open(
            self.path / ".lock",
            os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
            0o600,
        )
        try:
            if not _try_lock(fd):
                raise PublishError(
                    f"another publish is writing to {self.path}: wait for it to finish"
                )
            yield
        finally:
            os.close(fd)  # releases the lock

    def staging(self, snapshot: str) -> Path:
        """A fresh staging directory for ``snapshot`` (0700)."""
        path = self.path / f"{STAGING}{snapshot}"
        shutil.rmtree(path, ignore_errors=True)
        return private_dir(path)

    def clear_staging(self) -> None:
        """Remove staging directories publishes that died left behind."""
        for path in self.path.glob(f"{STAGING}*"):
            shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Path, snapshot: str) -> Path:
        """Rename a complete, checked staging directory to its id, durably."""
        final = self.path / snapshot
        try:
            sync_dir(staging)
            os.rename(staging, final)
            sync_dir(self.path)
        except OSError as exc:
            raise PublishError(f"cannot publish {final}: {exc.strerror or exc}") from exc
        return final

    def point_latest(self, snapshot: str) -> None:
        """Make ``latest`` point at ``snapshot``, atomically: readers see the old
        target or the new one. SnapshotNotFound when there is no such snapshot."""
        if not is_snapshot_id(snapshot) or not (self.path / snapshot / MANIFEST).is_file():
            raise self.not_found(snapshot)
        temp = self.path / f".latest-{os.getpid()}.tmp"
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            os.symlink(snapshot, temp, target_is_directory=True)
            os.replace(temp, self.path / LATEST)
            sync_dir(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise PublishError(f"cannot move {self.path / LATEST}: {exc.strerror or exc}") from exc

    def retain(self, keep: int) -> list[str]:
        """Remove all but the newest ``keep`` snapshots, never ``latest``'s; the ids
        removed, oldest first."""
        gone = to_remove(self.ids(), keep=keep, latest=self.latest())
        for snapshot in gone:
            shutil.rmtree(self.path / snapshot)
        if gone:
            sync_dir(self.path)
        return gone


def now_utc() -> datetime:
    return datetime.now(UTC)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
