"""The raw archive: every usable response, compressed and content-addressed.

    archive = Archive(Path("data/football/archive"))
    archive.store(response, url="http://127.0.0.1:8000/matches/1", stage="overview", item_key="1")
    archive.flush()
    page = archive.latest("http://127.0.0.1:8000/matches/1", item_key="1")  # Response | None
    known = archive.validators("http://127.0.0.1:8000/matches/1", item_key="1")
    # known.request_headers() == {"If-None-Match": '"v1"'}: what a conditional GET sends
    archive.close()

Layout: one SQLite file (WAL) under the data dir, ``archive/archive.db``, with
its own migrations and two tables:

- ``bodies``: each distinct body once, zstd-compressed, keyed by the SHA-256 of
  the uncompressed bytes (content-addressed: the same page fetched twice is one
  body). No URL text reaches a file name; the only files are ``archive.db`` and
  its WAL.
- ``entries``: one row per stored response: the URL asked for (and the final URL
  when redirects led elsewhere), the body's hash, the status, the response
  headers fit to keep, the fetch time (Unix seconds), the stage, the item key and
  the run id.

Why not a file per body: creating a file costs a journaled directory update
(measured 0.45 to 1 ms on the reference machine), which caps a crawl at a
couple of thousand pages a second and spends a core in the kernel. A batch of
bodies and its rows go into SQLite in one transaction (about 0.1 ms a page
there), and a row can never point at a partial or missing body.

Secrets never reach the archive: ``Set-Cookie`` is dropped, sensitive headers
(Authorization, Cookie, tokens, keys ...) keep only ``***``, URL credentials and
declared secret values are masked (in URLs too, the same way for lookups), and
request headers are not stored.

Writing stays off the caller's thread: :meth:`Archive.store` only appends to a
queue. A writer thread (started on first use) hashes and compresses a batch and
inserts its bodies and rows in one transaction. :meth:`Archive.flush` waits
until everything queued is written; :meth:`Archive.close` flushes and stops the
thread; archives still open when the program exits are closed then. When the
writer fails (disk full), the next ``store`` raises :class:`RunHalted` and
``close`` raises :class:`ArchiveError` if no ``store`` reported it. Call
``store`` from one thread (the event loop).

:class:`ArchiveFetcher` serves archived responses as a Fetcher, so a stage can
parse them again without the network.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import zstandard

from scrapeline.errors import ArchiveError, ArchiveMiss, DiskFull, RunHalted
from scrapeline.fetch.response import Request, Response
from scrapeline.migrations import apply
from scrapeline.secrets import collect_secrets, redact, redact_headers

DATABASE = "archive.db"

MIGRATIONS: tuple[str, ...] = (
    # 1: bodies (content-addressed), entries (one per stored response), facts
    """
    CREATE TABLE bodies(
        id INTEGER PRIMARY KEY,
        sha256 BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE entries(
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL,
        final_url TEXT,
        sha256 BLOB NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        fetched_at REAL NOT NULL,
        stage TEXT,
        item_key TEXT,
        run_id INTEGER
    );
    CREATE INDEX entries_url ON entries(url);
    CREATE INDEX entries_sha256 ON entries(sha256);
    CREATE TABLE facts(
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
)

_DROPPED_HEADERS = frozenset({"set-cookie", "set-cookie2"})
_COLUMNS = (
    "e.id, e.url, e.final_url, e.sha256, b.size, e.status, e.headers, e.fetched_at, "
    "e.stage, e.item_key, e.run_id"
)
_FROM = " FROM entries e JOIN bodies b ON b.sha256 = e.sha256"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One stored response, as the archive describes it."""

    id: int
    url: str
    """The URL asked for (credentials and declared secrets masked)."""
    final_url: str | None
    """Where redirects led, when that differs from ``url``."""
    sha256: str
    """Of the body, in hex: what the body is stored under."""
    size: int
    """Body bytes, uncompressed."""
    status: int
    headers: Mapping[str, str]
    fetched_at: float
    stage: str | None
    item_key: str | None
    run_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Validators:
    """What a conditional request for a URL sends, and what answers its 304: the
    latest stored response's ETag and Last-Modified, with the rest of that response
    but its body (read by :meth:`Archive.response` only when the site says it is
    unchanged).

    >>> v = Validators(etag='"v1"', last_modified=None, sha256="00", status=200, headers={})
    >>> v.request_headers()
    {'If-None-Match': '"v1"'}
    """

    etag: str | None
    last_modified: str | None
    sha256: str
    """Of the stored body, in hex."""
    status: int
    headers: Mapping[str, str]

    def request_headers(self) -> dict[str, str]:
        """``If-None-Match`` and ``If-Modified-Since``, for the validators there are."""
        sent: dict[str, str] = {}
        if self.etag:
            sent["If-None-Match"] = self.etag
        if self.last_modified:
            sent["If-Modified-Since"] = self.last_modified
        return sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Pruned:
    """What :meth:`Archive.prune` removed."""

    entries: int
    bodies: int
    bytes: int
    """Compressed bytes of the bodies removed."""
    unused: int = 0
    """Bytes of the unused pages given back to the file system: those the deletion
    freed and any that earlier deletions left. A preview counts those unused now and
    an estimate of what the forgotten entries' rows take."""


# url, final url, status, headers, body, fetched_at, stage, item_key, run_id, request headers
_Queued = tuple[
    str, str, int, Mapping[str, str], bytes, float, str | None, str | None, int | None, Any
]


def keep_headers(headers: Mapping[str, str], secrets: Sequence[str] = ()) -> dict[str, str]:
    """Response headers fit to keep: no Set-Cookie, sensitive values as ``***``,
    URL credentials and ``secrets`` masked in the rest.

    >>> keep_headers({"Set-Cookie": "sid=1", "Authorization": "Bearer x", "Server": "n"})
    {'Authorization': '***', 'Server': 'n'}
    """
    return redact_headers(
        {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}, secrets
    )


class Archive:
    """Compressed, content-addressed response bodies and their entries; see the module doc.

    ``secrets`` are values masked wherever they appear in stored URLs and headers
    (the pipeline's tokens, cookie values, proxy passwords). ``batch`` bounds the
    responses of one transaction; the writer wakes every ``interval`` seconds or
    when a batch is queued; ``store`` waits (backpressure) while ``max_queued``
    responses are already queued. Raises ArchiveError when the archive cannot be
    opened.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        secrets: Sequence[str] = (),
        batch: int = 256,
        interval: float = 0.1,
        max_queued: int = 2048,
        level: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.path = self.root / DATABASE
        self.run_id: int | None = None
        """Labels the entries stored from now on (set when a run begins)."""
        self._secrets = tuple(secrets)
        self._batch = max(1, batch)
        self._interval = interval
        self._max_queued = max(1, max_queued)
        self._level = level
        self._clock = clock
        self._queue: collections.deque[_Queued] = collections.deque()
        self._queued = 0  # how many store() calls so far (the caller's thread only)
        self._written = 0  # how many of them the writer has settled
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._error: ArchiveError | DiskFull | None = None
        self._error_reported = False
        self._lock = threading.Lock()  # guards the caller's connection
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(
                f"cannot create the archive {self.root}: {exc.strerror or exc}"
            ) from exc
        self._db = self._connect()
        with self._tx() as db:
            apply(db, MIGRATIONS, "archive")

    @staticmethod
    def exists(root: Path | str) -> bool:
        """Whether an archive is at ``root``."""
        return (Path(root) / DATABASE).is_file()

    # -- writing -------------------------------------------------------------------

    def store(
        self,
        response: Response,
        *,
        url: str | None = None,
        stage: str | None = None,
        item_key: str | None = None,
        request_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue ``response`` (asked for as ``url``; its own URL by default) for writing.

        Cheap: no hashing, compression or I/O on the caller's thread. Values of
        sensitive ``request_headers`` are masked if the response echoes them.
        Raises RunHalted once the writer has failed (the run should stop)."""
        if self._error is not None:
            self._error_reported = True
            raise RunHalted(f"cannot write the archive: {self._error}") from self._error
        if self._closed:
            raise ArchiveError(f"the archive {self.root} is closed")
        if self._writer is None:
            self._start()
        queue = self._queue
        queue.append(
            (
                url or response.url,
                response.url,
                response.status,
                response.headers,
                response.body,
                self._clock(),
                stage,
                item_key,
                self.run_id,
                request_headers or None,
            )
        )
        self._queued += 1
        if len(queue) >= self._batch:
            self._wake.set()
            if len(queue) >= self._max_queued:
                self._wait_for_room()

    def flush(self) -> None:
        """Wait until everything queued so far is written (or the writer failed)."""
        target = self._queued
        if self._writer is None or self._written >= target:
            return
        self._wake.set()
        with self._progress:
            self._progress.wait_for(lambda: self._written >= target or self._error is not None)

    def close(self) -> None:
        """Flush, stop the writer, close the database. Idempotent.

        Raises ArchiveError when writing failed and no ``store`` has said so."""
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        writer, self._writer = self._writer, None
        if writer is not None:
            self._stopping = True
            self._wake.set()
            writer.join()
        with self._lock, suppress(sqlite3.Error):
            self._db.close()
        if self._error is not None and not self._error_reported:
            self._error_reported = True
            raise self._error

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def remember_base_url(self, base_url: str | None) -> None:
        """Note the base URL responses are being fetched from (a re-parse resolves
        the stages' relative URLs against it)."""
        if base_url is None:
            return
        with self._tx() as db:
            db.execute(
                "INSERT INTO facts(name, value) VALUES ('base_url', ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (self._public(base_url),),
            )

    def base_url(self) -> str | None:
        """The base URL of the last run that stored responses, if one said so."""
        rows = self._read("SELECT value FROM facts WHERE name='base_url'")
        return str(rows[0][0]) if rows else None

    # -- reading -------------------------------------------------------------------

    def latest(self, url: str, *, item_key: str | None = None) -> Response | None:
        """The most recently stored response for ``url`` (preferring one stored for
        ``item_key``), as a Response whose ``url`` is ``url``; None if there is none.

        Raises ArchiveError when its body is damaged."""
        rows = self._read(
            "SELECT e.status, e.headers, e.sha256, b.data" + _FROM + " WHERE e.url=? "
            "ORDER BY coalesce(e.item_key = ?, 0) DESC, e.fetched_at DESC, e.id DESC LIMIT 1",
            (self._public(url), item_key),
        )
        if not rows:
            return None
        status, headers, sha, data = rows[0]
        return Response(
            url=url, status=status, headers=orjson.loads(headers), body=_decompress(sha, data)
        )

    def validators(self, url: str, *, item_key: str | None = None) -> Validators | None:
        """The ETag and Last-Modified of the response :meth:`latest` would give, or
        None when there is none or it has neither.

        Cheap enough for the event loop's thread before every conditional request:
        one SELECT on the URL index, the body left unread. Responses still queued for
        the writer are not seen (a plain request then goes out)."""
        rows = self._read(
            "SELECT status, headers, sha256 FROM entries WHERE url=? "
            "ORDER BY coalesce(item_key = ?, 0) DESC, fetched_at DESC, id DESC LIMIT 1",
            (self._public(url), item_key),
        )
        if not rows:
            return None
        status, text, sha = rows[0]
        headers: dict[str, str] = orjson.loads(text)
        etag = last_modified = None
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "etag":
                etag = value
            elif lowered == "last-modified":
                last_modified = value
        if etag is None and last_modified is None:
            return None
        return Validators(
            etag=etag, last_modified=last_modified, sha256=sha.hex(), status=status, headers=headers
        )

    def response(self, validators: Validators, *, url: str) -> Response | None:
        """The stored response ``validators`` were read from, as :meth:`latest` gives
        it (``url`` as its URL); None when its body is no longer stored (pruned
        meanwhile). Raises ArchiveError when the body is damaged."""
        key = bytes.fromhex(validators.sha256)
        rows = self._read("SELECT data FROM bodies WHERE sha256=?", (key,))
        if not rows:
            return None
        return Response(
            url=url,
            status=validators.status,
            headers=dict(validators.headers),
            body=_decompress(key, rows[0][0]),
        )

    def entries(
        self,
        *,
        url: str | None = None,
        stage: str | None = None,
        item_key: str | None = None,
    ) -> list[Entry]:
        """Stored responses, oldest first, optionally only those of a URL, stage or item key."""
        where, params = _filters(url=url and self._public(url), stage=stage, item_key=item_key)
        rows = self._read(f"SELECT {_COLUMNS}{_FROM}{where} ORDER BY e.id", params)
        return [_entry(r) for r in rows]

    def count(self, *, stage: str | None = None) -> int:
        """How many responses are stored (of ``stage``, when given)."""
        where, params = _filters(stage=stage)
        return int(self._read(f"SELECT count(*) FROM entries e{where}", params)[0][0])

    def body(self, sha256: str) -> bytes:
        """The body with this hash (hex); ArchiveError if it is not stored or is damaged."""
        key = bytes.fromhex(sha256)
        rows = self._read("SELECT data FROM bodies WHERE sha256=?", (key,))
        if not rows:
            raise ArchiveError(f"no archived body {sha256}")
        return _decompress(key, rows[0][0])

    # -- retention -----------------------------------------------------------------

    def prune(self, older_than: float, *, now: float | None = None) -> Pruned:
        """Forget responses fetched more than ``older_than`` seconds before ``now`` and
        the bodies no remaining response refers to (a body a newer response shares
        stays, an orphan left by anything goes), in one transaction; then give the
        freed space back to the file system (:meth:`reclaim_space`): the file shrinks."""
        self.flush()
        cutoff = (self._clock() if now is None else now) - older_than
        with self._tx() as db:
            gone = [
                r[0]
                for r in db.execute(
                    "DELETE FROM entries WHERE fetched_at < ? RETURNING sha256", (cutoff,)
                ).fetchall()
            ]
            freed = [
                r[0]
                for r in db.execute(
                    "DELETE FROM bodies WHERE NOT EXISTS "
                    "(SELECT 1 FROM entries e WHERE e.sha256 = bodies.sha256) "
                    "RETURNING length(data)"
                ).fetchall()
            ]
        unused = self.reclaim_space()
        return Pruned(entries=len(gone), bodies=len(freed), bytes=sum(freed), unused=unused)

    def reclaim_space(self) -> int:
        """Hand the pages deleted rows left unused back to the file system, then
        checkpoint and truncate the WAL. Returns the bytes those pages held.

        An archive is made in incremental auto-vacuum mode: its free pages are moved
        to the end and cut off, all of them (``sqlite3``'s ``execute`` steps that
        pragma once, which frees one page: it is run as a script, to the end). An
        archive in another mode is rebuilt once by VACUUM, into that mode."""
        with self._lock:
            try:
                db = self._db
                unused = _unused_bytes(db)
                if int(db.execute("PRAGMA auto_vacuum").fetchone()[0]) == _INCREMENTAL:
                    if unused:
                        db.executescript("PRAGMA incremental_vacuum")
                else:
                    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                    db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
        return unused

    # -- the writer thread -----------------------------------------------------------

    def _start(self) -> None:
        self._writer = threading.Thread(
            target=self._write_loop, name="scrapeline-archive", daemon=True
        )
        self._writer.start()
        _OPEN.add(self)

    def _wait_for_room(self) -> None:
        with self._progress:
            self._progress.wait_for(
                lambda: len(self._queue) < self._max_queued or self._error is not None
            )

    def _write_loop(self) -> None:
        compressor = zstandard.ZstdCompressor(level=self._level)
        try:
            db = self._connect()
        except (ArchiveError, DiskFull) as exc:
            self._fail(exc)
            return
        try:
            while True:
                self._wake.wait(self._interval)
                self._wake.clear()
                stopping = self._stopping  # read before draining: nothing is left behind
                while self._queue:
                    take = min(len(self._queue), self._batch)
                    batch = [self._queue.popleft() for _ in range(take)]
                    self._write(db, compressor, batch)
                    with self._progress:
                        self._written += len(batch)
                        self._progress.notify_all()
                if stopping:
                    return
        except (ArchiveError, DiskFull) as exc:
            self._fail(exc)
        except Exception as exc:  # a bug here must not hang flush() or the run
            self._fail(ArchiveError(f"archive writer failed: {exc!r}"))
        finally:
            db.close()

    def _fail(self, error: ArchiveError | DiskFull) -> None:
        with self._progress:
            self._error = error
            self._queue.clear()
            self._progress.notify_all()

    def _write(
        self, db: sqlite3.Connection, compressor: zstandard.ZstdCompressor, batch: list[_Queued]
    ) -> None:
        hashes = [hashlib.sha256(item[4]).digest() for item in batch]
        rows = []
        for (url, final, status, headers, _, at, stage, key, run_id, sent), sha in zip(
            batch, hashes, strict=True
        ):
            secrets = self._secrets
            if sent:
                secrets = (*secrets, *collect_secrets(headers=sent))
            public = self._public(url, secrets)
            landed = self._public(final, secrets)
            rows.append(
                (
                    public,
                    None if landed == public else landed,
                    sha,
                    status,
                    orjson.dumps(keep_headers(headers, secrets)).decode(),
                    at,
                    stage,
                    key,
                    run_id,
                )
            )
        try:
            with _transaction(db):
                marks = ",".join("?" * len(hashes))
                known = {
                    r[0]
                    for r in db.execute(
                        f"SELECT sha256 FROM bodies WHERE sha256 IN ({marks})", hashes
                    )
                }
                bodies: dict[bytes, tuple[bytes, int, bytes]] = {}
                for item, sha in zip(batch, hashes, strict=True):
                    if sha not in known and sha not in bodies:
                        body = item[4]
                        bodies[sha] = (sha, len(body), compressor.compress(body))
                _insert_rows(db, "bodies(sha256, size, data)", list(bodies.values()))
                _insert_rows(
                    db,
                    "entries(url, final_url, sha256, status, headers, fetched_at, "
                    "stage, item_key, run_id)",
                    rows,
                )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    # -- SQLite ----------------------------------------------------------------------

    def _public(self, url: str, secrets: Sequence[str] | None = None) -> str:
        return redact(url, self._secrets if secrets is None else secrets)

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new file only
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise ArchiveError(f"cannot open the archive {self.path}: {exc}") from exc
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with _transaction(self._db):
                    yield self._db
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc

    def _translate(self, exc: sqlite3.Error) -> ArchiveError | DiskFull:
        text = str(exc)
        if "full" in text:
            return DiskFull(
                f"disk full: no space left to write the archive {self.path}; "
                "free space and run again"
            )
        return ArchiveError(f"archive {self.path}: {text}")


_INCREMENTAL = 2
"""``PRAGMA auto_vacuum``'s value for incremental mode."""


def _unused_bytes(db: sqlite3.Connection) -> int:
    free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    return free * int(db.execute("PRAGMA page_size").fetchone()[0])


def preview_prune(root: Path | str, older_than: float, *, now: float) -> Pruned:
    """What :meth:`Archive.prune` would remove and give back, counted without
    writing anything (the file is opened read-only; no lock needed, a run may be
    storing meanwhile): responses fetched before the cut-off, the bodies then left
    with no response (compressed bytes), and the pages already unused.

    Raises ArchiveError when the archive cannot be read."""
    path = Path(root) / DATABASE
    cutoff = now - older_than
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ArchiveError(f"cannot open the archive {path}: {exc}") from exc
    try:
        # an entry's bytes: its row and its two index entries (URL, hash), with overhead
        entries, rows = db.execute(
            "SELECT count(*), coalesce(sum(2 * length(url) + coalesce(length(final_url), 0) "
            "+ length(headers) + coalesce(length(stage), 0) + coalesce(length(item_key), 0) "
            "+ 2 * length(sha256) + 48), 0) FROM entries WHERE fetched_at < ?",
            (cutoff,),
        ).fetchone()
        bodies, size = db.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM bodies WHERE NOT EXISTS "
            "(SELECT 1 FROM entries e WHERE e.sha256 = bodies.sha256 AND e.fetched_at >= ?)",
            (cutoff,),
        ).fetchone()
        unused = _unused_bytes(db)
    except sqlite3.Error as exc:
        raise ArchiveError(f"archive {path}: {exc}") from exc
    finally:
        db.close()
    return Pruned(
        entries=int(entries), bodies=int(bodies), bytes=int(size), unused=unused + int(rows)
    )


_OPEN: weakref.WeakSet[Archive] = weakref.WeakSet()
"""Archives with a writer thread: closed at exit, so a program that forgets to close
one still gets what it queued written (the thread is a daemon: it never holds up an
exit by itself)."""


@atexit.register
def _close_open_archives() -> None:
    for archive in list(_OPEN):
        try:
            archive.close()
        except (ArchiveError, DiskFull) as exc:
            logging.getLogger("scrapeline.fetch").error("%s", exc)


class ArchiveFetcher:
    """A Fetcher that answers from an :class:`Archive` and never touches the network.

    ``fetch`` returns the latest archived response for the request's URL (preferring
    one stored for the request's item key), with ``url`` equal to the request's. Where
    there is none, or its body is damaged, it raises :class:`ArchiveMiss` (category
    ``archive_miss``, not retried), the one error it adds to the Fetcher contract.
    The archive stays open: its owner closes it.
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.closed = False

    async def fetch(self, request: Request) -> Response:
        if self.closed:
            raise RuntimeError("ArchiveFetcher is closed")
        try:
            found = self.archive.latest(request.url, item_key=request.item_key)
        except ArchiveError as exc:
            raise ArchiveMiss(str(exc), url=request.url) from exc
        if found is None:
            raise ArchiveMiss(
                "nothing archived for this URL (`scrapeline run` fetches it; "
                "--base-url if it was fetched from another copy of the site)",
                url=request.url,
            )
        return found

    async def close(self) -> None:
        self.closed = True


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _decompress(sha256: bytes, data: bytes) -> bytes:
    try:
        body = zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"archived body {sha256.hex()} is damaged: {exc}") from exc
    if hashlib.sha256(body).digest() != sha256:
        raise ArchiveError(f"archived body {sha256.hex()} is damaged (its hash differs)")
    return body


def _filters(**columns: str | None) -> tuple[str, tuple[str, ...]]:
    chosen = {k: v for k, v in columns.items() if v is not None}
    if not chosen:
        return "", ()
    return " WHERE " + " AND ".join(f"e.{k}=?" for k in chosen), tuple(chosen.values())


def _entry(row: Sequence[Any]) -> Entry:
    rid, url, final, sha, size, status, headers, at, stage, key, run_id = row
    return Entry(
        id=rid,
        url=url,
        final_url=final,
        sha256=sha.hex(),
        size=size,
        status=status,
        headers=orjson.loads(headers),
        fetched_at=at,
        stage=stage,
        item_key=key,
        run_id=run_id,
    )


def _insert_rows(db: sqlite3.Connection, into: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` with one multi-row VALUES statement per chunk, not a statement
    step per row: sqlite3 lets go of the GIL around every step, and taking it back
    while the event loop is busy costs more than the row."""
    if not rows:
        return
    width = len(rows[0])
    per = max(1, 30000 // width)  # under SQLite's 32766 bound parameters
    one = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        params = [value for row in chunk for value in row]
        db.execute(f"INSERT INTO {into} VALUES " + ",".join([one] * len(chunk)), params)
