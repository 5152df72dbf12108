"""A workspace: one opened data dir — its lock, ledger, archive and run logs — closed
together on every exit path.

    with Workspace.open(Path("data/football")) as ws:   # takes the lock (DataDirBusy)
        ws.prepare(pipeline)                            # schema, graph, tables
        archive = ws.archive(pipeline.fetch)            # closed with the workspace
        begun = await ws.begin_run(queue, pipeline, options)

    with Workspace.read(Path("data/football")) as ws:   # no lock, nothing written
        ws.ledger.counts()

Everything a command opens goes on the workspace's one exit stack, so what was
opened last is closed first (the writer thread before the ledger it writes, the
archive's queued writes before the process exits); the run logs close after all
of it, so that whatever closing says still reaches them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from scrapeline.datadir import DataDir
from scrapeline.errors import DataDirError, LedgerError
from scrapeline.ledger.base import Ledger
from scrapeline.pipeline import Pipeline
from scrapeline.workspace.ledgers import open_ledger

log = logging.getLogger("scrapeline.workspace")

if TYPE_CHECKING:  # what a run needs, imported when one starts: `runs` reads without it
    from scrapeline.fetch.archive import Archive
    from scrapeline.fetch.settings import FetchSettings
    from scrapeline.ledger.aio import AsyncLedger
    from scrapeline.runner.options import RunOptions
    from scrapeline.workspace.invocation import Invocation


def default_data_dir(pipeline: Pipeline) -> Path:
    """Where a pipeline's data live unless told: ``data/<name>``."""
    return Path("data") / pipeline.name


def missing_ledger(data_dir: Path) -> DataDirError:
    return DataDirError(f"no ledger in {data_dir}: run the pipeline first (scrapeline run)")


@dataclass(frozen=True, kw_only=True)
class BegunRun:
    """A run recorded in the ledger, with its log file open."""

    run_id: int
    log_path: Path


class Workspace:
    """An opened data dir. Make one with :meth:`open` (the lock; writes) or :meth:`read`."""

    def __init__(
        self, dd: DataDir, ledger: Ledger, stack: contextlib.ExitStack, *, read_only: bool = False
    ) -> None:
        self.dd = dd
        self.ledger = ledger
        self.read_only = read_only
        """Opened by :meth:`read`: its ledger takes no writes."""
        self._stack = stack
        self._archive: Archive | None = None
        self._logs: list[logging.Handler] = []

    @property
    def path(self) -> Path:
        return self.dd.path

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path, *, ledger: str | None = None) -> Workspace:
        """Take ``data_dir`` (created owner-only if new) and open its ledger for writing.

        Raises DataDirBusy when another process holds it, DataDirError when it cannot
        be made; ``ledger`` is a ledger URL (default: the data dir's SQLite file)."""
        stack = contextlib.ExitStack()
        try:
            dd = stack.enter_context(DataDir(data_dir))
            store = open_ledger(ledger or dd.ledger)
            stack.callback(store.close)
        except BaseException:
            stack.close()
            raise
        return cls(dd, store, stack)

    @classmethod
    def read(cls, data_dir: Path, pipeline: Pipeline | None = None) -> Workspace:
        """Open ``data_dir``'s ledger read-only, without its lock (a run may be writing).

        With ``pipeline``, the ledger learns its stage graph (to count every stage).
        DataDirError in one line when there is no ledger, or only a file no run set up."""
        dd = DataDir(data_dir)
        if not dd.exists():
            raise missing_ledger(data_dir)
        stack = contextlib.ExitStack()
        try:
            store = open_ledger(dd.ledger, read_only=True)
            stack.callback(store.close)
            if not store.has_schema():
                raise missing_ledger(data_dir)
            if pipeline is not None:
                store.use_graph(pipeline.graph())
        except BaseException:
            stack.close()
            raise
        return cls(dd, store, stack, read_only=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close what the workspace opened, last first, then its run logs. Idempotent."""
        try:
            self._stack.close()
        finally:
            logs, self._logs = self._logs, []
            if logs:
                from scrapeline.observe.logfile import close_run_log
            for handler in logs:
                close_run_log(handler)

    def callback(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` when the workspace closes (before what it opened earlier)."""
        self._stack.callback(fn, *args)

    # -- what a command needs ----------------------------------------------------

    def prepare(self, pipeline: Pipeline) -> list[str]:
        """Ready the ledger for ``pipeline``: schema, stage graph, declared tables and
        their columns (a changed key, or a schema change the stored records cannot
        take, is refused here with a PipelineError, before any work), and leases of a
        dead process given back (we hold the lock: whatever is still RUNNING is
        nobody's). Returns what changed in the tables and should be said (a new
        optional column), a line each, also logged."""
        self.ledger.prepare(pipeline.graph())
        notes = self.ledger.adopt_tables(
            {t.name: t.key for t in pipeline.tables.values()},
            {name: schema.as_dict() for name, schema in pipeline.schemas.items()},
        )
        for note in notes:
            log.info("%s", note)
        self.ledger.release_all_running()
        return notes

    def archive(self, settings: FetchSettings) -> Archive:
        """The data dir's archive, opened once and closed (its queue written) with the
        workspace; it remembers the base URL what it stores was fetched from."""
        if self._archive is None:
            from scrapeline.fetch.archive import Archive

            archive = Archive(self.dd.archive, secrets=settings.secret_values())
            self._stack.callback(archive.close)
            archive.remember_base_url(settings.base_url)
            self._archive = archive
        return self._archive

    def existing_archive(self, secrets: tuple[str, ...]) -> Archive | None:
        """The archive if one was ever written, opened (and closed with the workspace)."""
        from scrapeline.fetch.archive import Archive

        if not Archive.exists(self.dd.archive):
            return None
        archive = self._stack.enter_context(Archive(self.dd.archive, secrets=secrets))
        self._archive = archive
        return archive

    def queue(self) -> AsyncLedger:
        """The ledger behind its writer thread, for the runner; closed with the workspace."""
        from scrapeline.ledger.aio import AsyncLedger

        queue = AsyncLedger(self.ledger)
        self._stack.callback(queue.close)
        return queue

    async def begin_run(
        self,
        queue: AsyncLedger,
        pipeline: Pipeline,
        options: RunOptions,
        *,
        secrets: tuple[str, ...],
        invocation: Invocation | None = None,
    ) -> BegunRun:
        """Record the run, give failed tasks another try, open its log file.

        The run's options keep ``invocation`` (default: this process's ``run``) under
        ``"invocation"``, its secrets masked, with the host, the version and the
        stages asked for. The log is closed with the workspace, after everything else
        it opened."""
        from scrapeline.observe.logfile import open_run_log
        from scrapeline.workspace.invocation import Invocation

        call = invocation or Invocation.current("run")
        record = call.record(secrets, stages=stages_asked(pipeline, options))
        stored = {**options.public(), "invocation": record}
        run_id = await queue.begin_run(pipeline.name, stored, time.time(), os.getpid())
        await queue.reset_failed()
        if self._archive is not None:
            self._archive.run_id = run_id  # labels what it stores from now on
        path, handler = open_run_log(self.dd.path, run_id, datetime.now(), secrets=secrets)
        self._logs.append(handler)
        return BegunRun(run_id=run_id, log_path=path)

    def mark_crashed(self, run_ids: Sequence[int]) -> bool:
        """Record those runs as crashed (their process is gone), if still running.

        A workspace opened by :meth:`read` writes it through a connection of its own,
        without the data dir's lock (the row of a dead process is no one else's), when
        the ledger file may be written; it returns False, writing nothing, when it
        may not (then every reader still sees them crashed, by their pid)."""
        if not run_ids:
            return True
        if not self.read_only:
            self.ledger.mark_crashed(run_ids)
            return True
        if not os.access(self.dd.ledger, os.W_OK):
            return False
        try:
            writer = open_ledger(self.dd.ledger)
            try:
                writer.mark_crashed(run_ids)
            finally:
                writer.close()
        except LedgerError:
            return False
        return True


def stages_asked(pipeline: Pipeline, options: RunOptions) -> list[str]:
    """The stages a run with ``options`` works through, in the pipeline's order:
    ``--only-stage`` ones (all when none), less ``--skip-stage`` ones."""
    skipped = set(getattr(options, "skip_stages", ()))
    only = options.stages
    return [s for s in pipeline.stages if (only is None or s in only) and s not in skipped]
