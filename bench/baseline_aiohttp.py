"""The baseline: the football crawl in plain asyncio + aiohttp + selectolax, no state.

A fixed pool of ``--concurrency`` worker coroutines pulls URLs from one queue, so
at most that many requests are in flight. Listing pages enqueue the next listing
page (first, so discovery runs ahead) and their match pages; match pages enqueue
their half pages. Rows are kept in memory and written as JSON lines at the end
(``{"table": "matches" | "halves", ...}``, the bundled pipeline's columns).

    python bench/baseline_aiohttp.py --base-url http://127.0.0.1:8000 \\
        --concurrency 8 --end-offset 9900 --out rows.jsonl

It prints one JSON line of counts and exits 1 if any page failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp
from selectolax.lexbor import LexborHTMLParser


def _text(tree: LexborHTMLParser, selector: str) -> str:
    node = tree.css_first(selector)
    if node is None:
        raise ValueError(f"no element matches {selector!r}")
    return node.text(strip=True)


def _goals(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    home, _, away = text.partition("-")
    return int(home), int(away)


class Crawl:
    def __init__(self, base_url: str, concurrency: int, end_offset: int | None) -> None:
        self.base = base_url.rstrip("/")
        self.concurrency = concurrency
        self.end_offset = end_offset
        self.queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
        self.rows: list[dict[str, Any]] = []
        self.pages = 0
        self.failed: list[str] = []

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            self.queue.put_nowait(("listing", "/results?offset=0", 0))
            workers = [asyncio.create_task(self.worker(session)) for _ in range(self.concurrency)]
            await self.queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def worker(self, session: aiohttp.ClientSession) -> None:
        while True:
            kind, path, extra = await self.queue.get()
            try:
                async with session.get(self.base + path) as response:
                    body = await response.read()
                    status = response.status
                self.pages += 1
                if status != 200:
                    self.failed.append(f"{status} {path}")
                    continue
                tree = LexborHTMLParser(body)
                if kind == "listing":
                    self.listing(tree, extra)
                elif kind == "match":
                    self.match(tree, extra)
                else:
                    self.half(tree, extra)
            except Exception as exc:
                self.failed.append(f"{type(exc).__name__} {path}: {exc}")
            finally:
                self.queue.task_done()

    def listing(self, tree: LexborHTMLParser, offset: int) -> None:
        nxt = tree.css_first("a.next")
        if nxt is not None:
            href = nxt.attributes.get("href") or ""
            next_offset = int(href.rsplit("=", 1)[-1])
            if self.end_offset is None or next_offset <= self.end_offset:
                self.queue.put_nowait(("listing", href, next_offset))
        for row in tree.css("tr.match"):
            match_id = int(row.attributes.get("data-id") or 0)
            self.queue.put_nowait(("match", f"/matches/{match_id}", match_id))

    def match(self, tree: LexborHTMLParser, match_id: int) -> None:
        ft = _goals(_text(tree, "h1 .score"))
        for link in tree.css("ul.halves a"):
            href = link.attributes.get("href") or ""
            half = int(href.rsplit("/", 1)[-1])
            self.queue.put_nowait(("half", href, (match_id, half)))
        self.rows.append(
            {
                "table": "matches",
                "match_id": match_id,
                "date": _text(tree, "dd.date"),
                "time": _text(tree, "dd.time") or None,
                "competition": _text(tree, "dd.competition"),
                "season": _text(tree, "dd.season"),
                "round": _text(tree, "dd.round") or None,
                "team1": _text(tree, "h1 .team1"),
                "team2": _text(tree, "h1 .team2"),
                "goals1": ft[0] if ft else None,
                "goals2": ft[1] if ft else None,
            }
        )

    def half(self, tree: LexborHTMLParser, key: tuple[int, int]) -> None:
        match_id, half = key
        self.rows.append(
            {
                "table": "halves",
                "match_id": match_id,
                "half": half,
                "goals1": int(_text(tree, "#half .goals1")),
                "goals2": int(_text(tree, "#half .goals2")),
            }
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--end-offset", type=int, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    crawl = Crawl(args.base_url, args.concurrency, args.end_offset)
    asyncio.run(crawl.run())
    with open(args.out, "w", encoding="utf-8") as fh:
        for row in crawl.rows:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps({"pages": crawl.pages, "rows": len(crawl.rows), "failed": crawl.failed[:5]}))
    return 1 if crawl.failed else 0


if __name__ == "__main__":
    sys.exit(main())
