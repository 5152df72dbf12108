"""The one composition root: every command opens a workspace and runs over it.

A workspace is an opened data dir — its lock, the ledger (chosen by URL), the
archive and the run logs — closed together on every exit path
(:class:`~scrapeline.workspace.opened.Workspace`). The commands are short functions
over it, and they are all the CLI (and any other front end) calls:

- :func:`~scrapeline.workspace.run.run` — a pipeline once: discovery, stages, commits;
- :func:`~scrapeline.workspace.reparse.reparse` — one stage again, from the archive;
- :func:`~scrapeline.workspace.check.check_pipeline` — one live sample per step, nothing written;
- :func:`~scrapeline.workspace.history.status`, :func:`~scrapeline.workspace.history.runs`,
  :func:`~scrapeline.workspace.history.show` — what the data dir holds and what its runs
  did (each run's :class:`~scrapeline.workspace.invocation.Invocation`, secrets masked),
  read-only but for marking a run whose process is gone crashed;
- :func:`~scrapeline.workspace.health.health` — each stage over the last N runs;
- :mod:`~scrapeline.workspace.heartbeat` — DATA_DIR/state/last_success.json, written
  after every run that ended done;
- :func:`~scrapeline.workspace.prune.prune` — forget what is older than a cut-off.

Nothing below this package imports it (a test holds the layers).
"""
