"""The listing-tree baseline: tournaments → seasons → events → detail in plain asyncio +
aiohttp + orjson, no state.

The same walk as ``bench/pipelines/tree_pipe.py`` over the same path-style URLs
of the pre-rendered API: a fixed pool of ``--concurrency`` worker coroutines
pulls URLs from one queue, so at most that many requests are in flight. A
listing page enqueues its next page first (when ``hasNextPage``), then what it
lists: a tournament's season listing, a season's event listing, an event's
detail. Rows are kept in memory and written as JSON lines at the end, with the
pipeline's ``events`` columns.

    python bench/baseline_tree.py --base-url http://127.0.0.1:8000 \\
        --concurrency 8 --out rows.jsonl

It prints one JSON line of counts and exits 1 if any page failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp
import orjson

LISTINGS = {
    "tournaments": "/api/tournaments/page/{page}",
    "seasons": "/api/tournaments/{key}/seasons/page/{page}",
    "events": "/api/seasons/{key}/events/page/{page}",
}
CHILD = {"tournaments": "seasons", "seasons": "events"}
"""The listing each row of a listing has: a tournament's seasons, a season's events."""


class Crawl:
    def __init__(self, base_url: str, concurrency: int) -> None:
        self.base = base_url.rstrip("/")
        self.concurrency = concurrency
        self.queue: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
        """(listing name or "detail", key of its parent or event, page)."""
        self.rows: list[dict[str, Any]] = []
        self.pages = 0
        self.failed: list[str] = []

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.queue.put_nowait(("tournaments", 0, 0))
            workers = [asyncio.create_task(self.worker(session)) for _ in range(self.concurrency)]
            await self.queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            kind, key, page = await self.queue.get()
            if kind == "detail":
                path = f"/api/events/{key}"
            else:
                path = LISTINGS[kind].format(key=key, page=page)
            try:
                async with session.get(self.base + path) as response:
                    body = await response.read()
                    status = response.status
                self.pages += 1
                if status != 200:
                    self.failed.append(f"{status} {path}")
                    continue
                document = orjson.loads(body)
                if kind == "detail":
                    self.detail(document["event"])
                else:
                    self.listing(kind, key, page, document)
            except Exception as exc:
                self.failed.append(f"{type(exc).__name__} {path}: {exc}")
            finally:
                self.queue.task_done()

    def listing(self, kind: str, key: int, page: int, document: dict[str, Any]) -> None:
        if document["hasNextPage"]:
            self.queue.put_nowait((kind, key, page + 1))
        child = CHILD.get(kind, "detail")
        for row in document[kind]:
            self.queue.put_nowait((child, int(row["id"]), 0))

    def detail(self, e: dict[str, Any]) -> None:
        self.rows.append(
            {
                "event_id": e["id"],
                "tournament": e["tournament"],
                "season": e["season"],
                "date": e["startDate"],
                "round": e["round"],
                "home": e["homeTeam"]["name"],
                "away": e["awayTeam"]["name"],
                "home_score": e["homeScore"],
                "away_score": e["awayScore"],
                "status": e["status"],
            }
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    crawl = Crawl(args.base_url, args.concurrency)
    asyncio.run(crawl.run())
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in crawl.rows:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps({"pages": crawl.pages, "rows": len(crawl.rows), "failed": crawl.failed[:5]}))
    return 1 if crawl.failed else 0


if __name__ == "__main__":
    sys.exit(main())
