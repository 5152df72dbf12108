"""The workspace: one opened data dir — lock, ledger by URL, run log — on one exit stack."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from scrapeline.errors import ConfigError, DataDirBusy, DataDirError
from scrapeline.model import Graph
from scrapeline.runner.run import RunOptions
from scrapeline.workspace.opened import Workspace


def football():  # type: ignore[no-untyped-def]
    import importlib

    import scrapeline.demo.football as module

    return importlib.reload(module).pipe


def test_an_open_workspace_holds_the_data_dir_until_it_closes(tmp_path: Path) -> None:
    with Workspace.open(tmp_path / "d"), pytest.raises(DataDirBusy):
        Workspace.open(tmp_path / "d")
    with Workspace.open(tmp_path / "d") as again:  # the lock went with the first
        again.ledger.prepare(Graph(stages={}))


def test_a_refused_ledger_url_leaves_the_data_dir_free(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only sqlite: is supported"):
        Workspace.open(tmp_path / "d", ledger="postgresql://db/x")
    with Workspace.open(tmp_path / "d"):
        pass


def test_a_sqlite_url_names_the_ledger_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.db"
    with Workspace.open(tmp_path / "d", ledger=f"sqlite:{target}") as ws:
        ws.prepare(football())
    assert target.is_file()
    assert not (tmp_path / "d" / "ledger.db").exists()


def test_reading_a_data_dir_no_run_set_up_says_so_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match=r"^no ledger in .*: run the pipeline first"):
        Workspace.read(tmp_path / "nothing")


def test_the_run_log_outlives_everything_else_the_workspace_closes(tmp_path: Path) -> None:
    pipe = football()
    ws = Workspace.open(tmp_path / "d")
    ws.prepare(pipe)
    said = logging.getLogger("scrapeline.workspace.test")
    # opened before the run began, so closed after its log on a plain exit stack
    ws.callback(said.warning, "closing the archive")
    queue = ws.queue()
    begun = asyncio.run(ws.begin_run(queue, pipe, RunOptions(), secrets=()))
    ws.close()
    assert "closing the archive" in begun.log_path.read_text()
    ws.close()  # closing twice is harmless
