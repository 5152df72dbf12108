"""The football crawl in Scrapy, for comparison. Runs in its own virtualenv (not scrapeline's).

Same pages and rows as the bundled pipeline: listing pages (following ``a.next``
up to ``--end-offset``), a match page per row, a page per half. Plain Scrapy
idioms (CSS selectors, callbacks, a JSON-lines feed), its defaults except what
a fair comparison needs: ``CONCURRENT_REQUESTS`` as the others, no AutoThrottle,
no robots.txt, no download delay, LOG_LEVEL WARNING.

    .work/scrapy-venv/bin/python bench/scrapy_spider.py --base-url http://127.0.0.1:8000 \\
        --concurrency 8 --end-offset 9900 --out rows.jsonl

It prints one JSON line of counts (from Scrapy's stats).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy  # type: ignore[import-not-found]  # in its own virtualenv
from scrapy.crawler import CrawlerProcess  # type: ignore[import-not-found]


def _text(response: Any, selector: str) -> str:
    return "".join(response.css(f"{selector} ::text").getall()).strip()


def _goals(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    home, _, away = text.partition("-")
    return int(home), int(away)


class FootballSpider(scrapy.Spider):  # type: ignore[misc]
    name = "football"

    def __init__(self, base_url: str, end_offset: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.end_offset = end_offset

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(f"{self.base_url}/results?offset=0", callback=self.parse)

    def parse(self, response: Any) -> Iterator[Any]:
        href = response.css("a.next::attr(href)").get()
        if href:
            next_offset = int(href.rsplit("=", 1)[-1])
            if self.end_offset is None or next_offset <= self.end_offset:
                yield response.follow(href, callback=self.parse)
        for row in response.css("tr.match"):
            match_id = int(row.attrib.get("data-id") or 0)
            yield response.follow(
                f"/matches/{match_id}", callback=self.parse_match, cb_kwargs={"match_id": match_id}
            )

    def parse_match(self, response: Any, match_id: int) -> Iterator[Any]:
        ft = _goals(_text(response, "h1 .score"))
        for href in response.css("ul.halves a::attr(href)").getall():
            half = int(href.rsplit("/", 1)[-1])
            yield response.follow(
                href, callback=self.parse_half, cb_kwargs={"match_id": match_id, "half": half}
            )
        yield {
            "table": "matches",
            "match_id": match_id,
            "date": _text(response, "dd.date"),
            "time": _text(response, "dd.time") or None,
            "competition": _text(response, "dd.competition"),
            "season": _text(response, "dd.season"),
            "round": _text(response, "dd.round") or None,
            "team1": _text(response, "h1 .team1"),
            "team2": _text(response, "h1 .team2"),
            "goals1": ft[0] if ft else None,
            "goals2": ft[1] if ft else None,
        }

    def parse_half(self, response: Any, match_id: int, half: int) -> Iterator[Any]:
        yield {
            "table": "halves",
            "match_id": match_id,
            "half": half,
            "goals1": int(_text(response, "#half .goals1")),
            "goals2": int(_text(response, "#half .goals2")),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--end-offset", type=int, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": False,
            "FEEDS": {args.out: {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
        }
    )
    crawler = process.create_crawler(FootballSpider)
    process.crawl(crawler, base_url=args.base_url, end_offset=args.end_offset)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    pages = int(stats.get("downloader/response_count", 0))
    ok = int(stats.get("downloader/response_status_count/200", 0))
    errors = pages - ok + int(stats.get("spider_exceptions/count", 0) or 0)
    print(json.dumps({"pages": pages, "items": stats.get("item_scraped_count"), "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
