"""The data dir: where a pipeline's ledger, logs and archive live, and who is using it.

    DATA_DIR/
      ledger.db          the ledger (SQLite, WAL: ledger.db-wal, ledger.db-shm beside it)
      logs/              run-YYYYMMDD-HHMMSS-<run_id>.log, one per run
      archive/           raw response bodies, compressed, content-addressed
      lock               holds the pid of the run using this data dir
      reserve            space kept back while a run holds the dir (see below)

One run at a time per data dir: ``lock()`` takes an OS-level lock on ``lock``
(released by the OS even when the process is killed) or raises DataDirBusy
naming the process that holds it.

What a data dir holds is the user's alone: directories are made 0700 and, while
this process holds the lock, files are created 0600 (the process umask gains
0o077 until ``unlock``; a stricter umask of the user's is kept). The lock and
the write probe are opened without following symbolic links, so a link planted
in the data dir never makes a run truncate the file it points at.

While a run holds the dir, ``reserve`` keeps RESERVE bytes of the disk back. When
the disk fills up, ``release_reserve()`` gives them back, so the ledger can still
record that the run halted and why.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from scrapeline.errors import DataDirBusy, DataDirError, DiskFull

_PRIVATE = 0o077
"""Permission bits no one but the owner gets on what a data dir holds."""
RESERVE = 256 * 1024
"""Bytes kept back for the ledger's last words on a full disk (a few pages suffice)."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class DataDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock: int | None = None
        self._umask: int | None = None

    @property
    def ledger(self) -> Path:
        return self.path / "ledger.db"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def archive(self) -> Path:
        return self.path / "archive"

    def exists(self) -> bool:
        return self.ledger.exists()

    def create(self) -> DataDir:
        """Make the directories (0700) and check that files can be written there.

        Raises DataDirError in one line when that is not possible. The probe file
        is made with O_EXCL under a fresh name, so nothing already there (a link,
        a file of someone else's) is opened or truncated."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.logs.mkdir(mode=0o700, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DataDirError(f"data dir {self.path} is not writable: {reason}") from exc
        return self

    def lock(self) -> DataDir:
        """Take the data dir for this process, or raise DataDirBusy.

        Raises DataDirError when ``lock`` is a symbolic link or not a plain file
        of its own: it is never followed, and never truncated."""
        self.create()
        path = self.path / "lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DataDirError(
                    f"{path} is a symbolic link: remove it (scrapeline makes its own lock file)"
                ) from exc
            raise DataDirError(f"cannot open {path}: {exc.strerror or exc}") from exc
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise DataDirError(
                f"{path} is not a plain file of its own (a link to another file?): "
                "remove it (scrapeline makes its own lock file)"
            )
        if not _try_lock(fd):
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise DataDirBusy(
                f"data dir {self.path} is in use by a running scrapeline (pid {holder}); "
                "wait for it to finish or stop it first"
            )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            if exc.errno == errno.ENOSPC:
                raise DiskFull(
                    f"disk full: no space left in {self.path}; free space and run again"
                ) from exc
            raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self._lock = fd
        self._umask = os.umask(_PRIVATE)
        os.umask(self._umask | _PRIVATE)  # the user's own stricter bits stay
        try:
            self._reserve()
        except BaseException:
            self.unlock()
            raise
        return self

    @property
    def reserve(self) -> Path:
        return self.path / "reserve"

    def _reserve(self) -> None:
        """Keep RESERVE bytes of the disk for ``release_reserve``; DiskFull if they
        are not there (the run would not get far)."""
        path = self.reserve
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # whatever was there (a link, anything): never opened
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        except OSError as exc:
            raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from exc
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, RESERVE)
            else:  # pragma: no cover - macOS, Windows
                os.pwrite(fd, bytes(RESERVE), 0)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            if exc.errno == errno.ENOSPC:
                raise DiskFull(
                    f"disk full: no space left in {self.path}; free space and run again"
                ) from exc
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise DataDirError(f"cannot write {path}: {exc.strerror or exc}") from exc
            return  # a file system without fallocate: no reserve, nothing worse
        os.close(fd)

    def release_reserve(self) -> bool:
        """Give the reserved space back (the disk is full). Returns whether it was held."""
        try:
            os.unlink(self.reserve)
        except OSError:
            return False
        return True

    def unlock(self) -> None:
        if self._lock is not None:
            self.release_reserve()
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None
        if self._lock is not None:
            # a full or read-only disk: the OS lock still goes with the close
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock, 0)
            os.close(self._lock)  # closing the file releases the OS lock
            self._lock = None

    def __enter__(self) -> DataDir:
        return self.lock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unlock()


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
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
