"""The data dir: where a pipeline's ledger, logs and archive live, and who is using it.

    DATA_DIR/
      ledger.db          the ledger (SQLite, WAL: ledger.db-wal, ledger.db-shm beside it)
      logs/              run-YYYYMMDD-HHMMSS-<run_id>.log, one per run
      archive/           raw response bodies, compressed, content-addressed
      lock               holds the pid of the run using this data dir

One run at a time per data dir: ``lock()`` takes an OS-level lock on ``lock``
(released by the OS even when the process is killed) or raises DataDirBusy
naming the process that holds it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

from scrapeline.errors import DataDirBusy, DataDirError


class DataDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock: IO[str] | None = None

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
        """Make the directories; DataDirError in one line when that is not possible."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.logs.mkdir(exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DataDirError(f"data dir {self.path} is not writable: {reason}") from exc
        return self

    def lock(self) -> DataDir:
        """Take the data dir for this process, or raise DataDirBusy."""
        self.create()
        handle = open(self.path / "lock", "a+", encoding="ascii")  # noqa: SIM115
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataDirBusy(
                f"data dir {self.path} is in use by a running scrapeline (pid {holder}); "
                "wait for it to finish or stop it first"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        return self

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.close()  # closing the file releases the OS lock
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


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
