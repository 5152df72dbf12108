"""The raw archive against real files and a real SQLite index, and the fetch client
storing into it from a real local HTTP server."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from scrapeline.errors import (
    ArchiveError,
    ArchiveMiss,
    Category,
    DiskFull,
    FetchError,
    RunHalted,
)
from scrapeline.fetch.archive import Archive, ArchiveFetcher, Entry
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.response import Request, Response
from scrapeline.fetch.retry import RetryPolicy
from tests.servers import serve

HTML = {"Content-Type": "text/html; charset=utf-8"}


def page(url: str, body: bytes, status: int = 200, **headers: str) -> Response:
    return Response(url=url, status=status, headers={**HTML, **headers}, body=body)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def archive(root: Path) -> Iterator[Archive]:
    store = Archive(root, secrets=["s3cr3t-k3y"])
    yield store
    store.close()


def sql(root: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    db = sqlite3.connect(root / "archive.db")
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def stored_bytes(root: Path) -> bytes:
    """Every byte the archive keeps on disk (the database and its WAL)."""
    return b"".join(p.read_bytes() for p in root.glob("archive.db*"))


def add_failure(root: Path, message: str) -> None:
    """Make every new body fail to insert, the way SQLite reports it."""
    db = sqlite3.connect(root / "archive.db")
    with db:
        db.execute(
            "CREATE TRIGGER fail BEFORE INSERT ON bodies "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
    db.close()


def test_identical_bodies_are_stored_once_keyed_by_their_hash(archive: Archive, root: Path) -> None:
    archive.run_id = 7
    archive.store(page("http://h/matches/1", b"<p>one</p>"), stage="overview", item_key="1")
    archive.store(page("http://h/matches/2", b"<p>two</p>"), stage="overview", item_key="2")
    archive.store(page("http://h/matches/1", b"<p>one</p>"), stage="overview", item_key="1")
    archive.flush()
    assert {p.name for p in root.iterdir()} <= {"archive.db", "archive.db-wal", "archive.db-shm"}
    bodies = sql(root, "SELECT hex(sha256), size, length(data) FROM bodies ORDER BY id")
    assert len(bodies) == 2
    entries = archive.entries()
    assert [(e.url, e.stage, e.item_key, e.run_id, e.status) for e in entries] == [
        ("http://h/matches/1", "overview", "1", 7, 200),
        ("http://h/matches/2", "overview", "2", 7, 200),
        ("http://h/matches/1", "overview", "1", 7, 200),
    ]
    assert entries[0].sha256 == entries[2].sha256 != entries[1].sha256
    assert [b[0] for b in bodies] == [entries[0].sha256.upper(), entries[1].sha256.upper()]
    assert entries[1].sha256 == hashlib.sha256(b"<p>two</p>").hexdigest()
    assert archive.body(entries[1].sha256) == b"<p>two</p>"
    assert entries[0].size == len(b"<p>one</p>") and entries[0].fetched_at > 0
    assert entries[0].headers == HTML


def test_secrets_never_reach_the_index(archive: Archive, root: Path) -> None:
    response = page(
        "http://bob:hunter22@h/x?api_key=s3cr3t-k3y",
        b"<p>x</p>",
        **{
            "Set-Cookie": "sid=abcdef; HttpOnly",
            "Authorization": "Bearer t0k3n-value",
            "X-Echo": "you sent Bearer my-request-token",
            "Location": "http://bob:hunter22@h/y",
            "Server": "nginx",
        },
    )
    archive.store(
        response,
        url="http://bob:hunter22@h/x?api_key=s3cr3t-k3y",
        request_headers={"Authorization": "Bearer my-request-token", "Accept": "text/html"},
    )
    archive.close()
    raw = stored_bytes(root)
    for secret in (b"hunter22", b"s3cr3t-k3y", b"sid=abcdef", b"t0k3n-value", b"my-request-token"):
        assert secret not in raw, secret
    [(url, headers)] = sql(root, "SELECT url, headers FROM entries")
    assert url == "http://***@h/x?api_key=***"
    kept = orjson.loads(headers)
    assert "Set-Cookie" not in kept and kept["Authorization"] == "***"
    assert kept["Server"] == "nginx" and kept["X-Echo"] == "you sent ***"
    assert kept["Location"] == "http://***@h/y"


def test_latest_prefers_the_items_own_response_then_the_newest(root: Path) -> None:
    clock = Clock()
    with Archive(root, clock=clock) as archive:
        archive.store(page("http://h/a", b"old"), item_key="1")
        clock.now += 10
        archive.store(page("http://h/a", b"other item"), item_key="2")
        clock.now += 10
        archive.store(page("http://h/a", b"new"), item_key="1")
        archive.flush()
        found = archive.latest("http://h/a", item_key="1")
        assert found is not None and (found.body, found.url, found.status) == (
            b"new",
            "http://h/a",
            200,
        )
        assert found.headers == HTML and found.text == "new"
        other = archive.latest("http://h/a", item_key="2")
        assert other is not None and other.body == b"other item"
        newest = archive.latest("http://h/a")
        assert newest is not None and newest.body == b"new"
        assert archive.latest("http://h/b") is None
        assert archive.count() == 3 and archive.count(stage="overview") == 0
    with Archive(root) as again:  # reopened: the same entries
        assert [e.item_key for e in again.entries(url="http://h/a")] == ["1", "2", "1"]


def test_the_base_url_is_remembered(root: Path) -> None:
    with Archive(root) as archive:
        assert archive.base_url() is None
        archive.remember_base_url("http://127.0.0.1:8123")
        archive.remember_base_url(None)  # nothing to remember: keeps the last
    with Archive(root) as archive:
        assert archive.base_url() == "http://127.0.0.1:8123"


def test_prune_removes_old_entries_and_unreferenced_bodies_only(root: Path) -> None:
    clock = Clock(1000.0)
    archive = Archive(root, clock=clock)
    archive.store(page("http://h/old-only", b"old body " * 100))
    archive.store(page("http://h/shared", b"shared body"))
    clock.now = 5000.0
    archive.store(page("http://h/shared-again", b"shared body"))
    archive.store(page("http://h/new", b"new body"))
    archive.flush()
    old_only = archive.entries(url="http://h/old-only")[0].sha256
    [(size,)] = sql(root, "SELECT length(data) FROM bodies WHERE hex(sha256)=?", old_only.upper())

    assert size < len(b"old body " * 100) / 10  # compressed
    pruned = archive.prune(3000.0, now=6000.0)  # cut-off at 3000
    assert (pruned.entries, pruned.bodies, pruned.bytes) == (2, 1, size)
    with pytest.raises(ArchiveError, match="no archived body"):
        archive.body(old_only)
    assert [e.url for e in archive.entries()] == ["http://h/shared-again", "http://h/new"]
    shared = archive.latest("http://h/shared-again")  # its body is still there
    assert shared is not None and shared.body == b"shared body"
    assert archive.latest("http://h/new") is not None
    assert archive.prune(3000.0, now=6000.0).entries == 0
    assert archive.prune(0.0, now=6000.0).bodies == 2
    assert sql(root, "SELECT count(*) FROM bodies") == [(0,)]
    archive.close()


def test_many_stores_with_a_small_queue_are_all_written(root: Path) -> None:
    with Archive(root, batch=8, max_queued=16, interval=0.01) as archive:
        for n in range(500):
            archive.store(page(f"http://h/{n}", f"<p>{n % 50}</p>".encode()))
        archive.flush()
        assert archive.count() == 500
    assert sql(root, "SELECT count(*) FROM bodies") == [(50,)]


def test_close_writes_what_is_still_queued(root: Path) -> None:
    archive = Archive(root, interval=60.0)
    archive.store(page("http://h/a", b"a"))
    archive.close()
    archive.close()  # idempotent
    with Archive(root) as again:
        assert again.count() == 1
    with pytest.raises(ArchiveError, match="closed"):
        archive.store(page("http://h/b", b"b"))


def test_a_program_that_never_closes_the_archive_still_writes_it(root: Path) -> None:
    script = textwrap.dedent(
        f"""
        from scrapeline.fetch.archive import Archive
        from scrapeline.fetch.response import Response
        archive = Archive({str(root)!r}, interval=60.0)
        archive.store(Response(url="http://h/a", status=200, headers={{}}, body=b"a"))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    with Archive(root) as archive:
        assert archive.count() == 1


def test_a_write_failure_halts_through_store_and_is_not_reported_twice(root: Path) -> None:
    archive = Archive(root, interval=0.01)
    add_failure(root, "database or disk is full")
    archive.store(page("http://h/a", b"a"))
    archive.flush()
    with pytest.raises(RunHalted, match="cannot write the archive: disk full: no space left"):
        archive.store(page("http://h/b", b"b"))
    archive.close()  # already reported: closing is quiet

    second = Archive(root, interval=0.01)
    second.store(page("http://h/a", b"a"))
    second.flush()
    with pytest.raises(DiskFull, match="disk full"):
        second.close()
    assert sql(root, "SELECT count(*) FROM entries") == [(0,)]  # nothing half-written


def test_damaged_bodies_are_archive_errors(archive: Archive, root: Path) -> None:
    archive.store(page("http://h/a", b"aaaa"))
    archive.store(page("http://h/b", b"bbbb"))
    archive.flush()
    a, b = archive.entries()
    other = sql(root, "SELECT data FROM bodies WHERE hex(sha256)=?", b.sha256.upper())[0][0]
    db = sqlite3.connect(root / "archive.db")
    with db:
        db.execute("UPDATE bodies SET data=x'00' WHERE hex(sha256)=?", (a.sha256.upper(),))
        db.execute("UPDATE bodies SET data=? WHERE hex(sha256)=?", (other, a.sha256.upper()))
    db.close()
    with pytest.raises(ArchiveError, match=r"damaged \(its hash differs"):
        archive.latest("http://h/a")
    db = sqlite3.connect(root / "archive.db")
    with db:
        db.execute("UPDATE bodies SET data=x'00' WHERE hex(sha256)=?", (a.sha256.upper(),))
    db.close()
    with pytest.raises(ArchiveError, match="is damaged"):
        archive.body(a.sha256)
    assert archive.body(b.sha256) == b"bbbb"


def test_an_unusable_index_is_one_archive_error(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    (root / "archive.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ArchiveError, match=r"archive .*archive\.db"):
        Archive(root)


async def test_the_archive_fetcher_serves_what_is_archived_and_nothing_else(
    archive: Archive,
) -> None:
    archive.store(page("http://h/a", b"<b>a</b>"), item_key="1")
    archive.flush()
    fetcher = ArchiveFetcher(archive)
    response = await fetcher.fetch(Request(url="http://h/a", item_key="1"))
    assert (response.url, response.status, response.one("b").text()) == ("http://h/a", 200, "a")
    with pytest.raises(ArchiveMiss) as info:
        await fetcher.fetch(Request(url="http://h/missing"))
    assert info.value.category is Category.ARCHIVE_MISS and not info.value.retryable
    assert "http://h/missing" in str(info.value)
    await fetcher.close()
    with pytest.raises(RuntimeError):
        await fetcher.fetch(Request(url="http://h/a"))


# -- the fetch client stores what it gets ---------------------------------------------


def little_site() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        response = web.Response(text=f"<p>{request.path}</p>", content_type="text/html")
        response.set_cookie("session", "c00kie-value")
        return response

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/new")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="gone")

    app = web.Application()
    app.router.add_get("/old", moved)
    app.router.add_get("/missing", missing)
    app.router.add_get("/{name}", ok)
    return app


async def test_the_client_archives_2xx_responses_under_the_url_asked_for(root: Path) -> None:
    archive = Archive(root)
    async with serve(little_site()) as url:
        client = FetchClient(base_url=url, archive=archive, retry=RetryPolicy(max_attempts=1))
        async with client:
            await client.get("/a", stage="overview", item_key="1")
            await client.get("/old", stage="overview", item_key="2")
            with pytest.raises(FetchError):  # a 404 is not kept
                await client.get("/missing", stage="overview", item_key="3")
    archive.close()
    with Archive(root) as again:
        entries: list[Entry] = again.entries()
        assert [(e.url, e.final_url, e.item_key) for e in entries] == [
            (f"{url}/a", None, "1"),
            (f"{url}/old", f"{url}/new", "2"),
        ]
        assert all("Set-Cookie" not in e.headers for e in entries)
        moved = again.latest(f"{url}/old", item_key="2")
        assert moved is not None and moved.text == "<p>/new</p>"
    assert b"c00kie-value" not in stored_bytes(root)
