"""Pure rules of the archive and retention: durations, which headers are kept, sizes."""

from __future__ import annotations

import doctest
import importlib

import pytest

from scrapeline.cli.archive import size
from scrapeline.durations import parse_duration
from scrapeline.errors import ConfigError
from scrapeline.fetch.archive import keep_headers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400.0),
        ("12h", 12 * 3600.0),
        ("90m", 5400.0),
        ("3600s", 3600.0),
        ("2w", 14 * 86400.0),
        ("1.5h", 5400.0),
        (" 7D ", 7 * 86400.0),
        ("0s", 0.0),
        ("45 m", 2700.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "-1d", "1d2h", "thirty days", "1e3s"])
def test_durations_that_are_not(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("headers", "secrets", "kept"),
    [
        ({"Content-Type": "text/html"}, (), {"Content-Type": "text/html"}),
        ({"Set-Cookie": "a=1", "set-cookie2": "b=2", "ETag": '"x"'}, (), {"ETag": '"x"'}),
        ({"Authorization": "Bearer t"}, (), {"Authorization": "***"}),
        ({"X-Api-Key": "k", "X-Auth-Token": "t"}, (), {"X-Api-Key": "***", "X-Auth-Token": "***"}),
        ({"Location": "http://u:p@h/x"}, (), {"Location": "http://***@h/x"}),
        ({"Link": "</next?key=s3cr3t>"}, ("s3cr3t",), {"Link": "</next?key=***>"}),
        ({"Server": "nginx"}, ("s3cr3t",), {"Server": "nginx"}),
    ],
)
def test_headers_kept_in_the_index(
    headers: dict[str, str], secrets: tuple[str, ...], kept: dict[str, str]
) -> None:
    assert keep_headers(headers, secrets) == kept


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (12_345, "12.3 kB"), (4_000_000, "4.0 MB")],
)
def test_sizes_for_people(n: int, text: str) -> None:
    assert size(n) == text


@pytest.mark.parametrize("name", ["scrapeline.fetch.archive", "scrapeline.durations"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
