"""Choosing the browser fetcher: what a pipeline may ask for, and the one-line errors."""

from __future__ import annotations

import shutil
import sys

import pytest

from scrapeline import ConfigError, Pipeline, PipelineError
from scrapeline.fetch import browser
from scrapeline.fetch.client import FetchClient
from tests.browsers import SKIP_REASON


def test_a_pipeline_names_a_known_fetcher() -> None:
    assert Pipeline("p").fetcher == "http"
    chosen = Pipeline("p", fetcher="browser", ready_selector="#match")
    assert (chosen.fetcher, chosen.ready_selector) == ("browser", "#match")
    with pytest.raises(PipelineError, match="fetcher must be one of 'http', 'browser'"):
        Pipeline("p", fetcher="curl")
    with pytest.raises(PipelineError, match="browser fetcher does not go through proxies"):
        Pipeline("p", fetcher="browser", proxies=["http://127.0.0.1:3128"])


def test_without_playwright_one_line_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(browser, "playwright_installed", lambda: False)
    pipe = Pipeline("p", base_url="http://127.0.0.1:8000", fetcher="browser")
    with pytest.raises(ConfigError) as error:
        FetchClient.from_settings(pipe.fetch)
    assert str(error.value) == "install scrapeline[browser] for the browser fetcher"
    assert error.value.exit_code == 2


def test_the_chromium_is_found_on_path_or_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(browser.CHROMIUM_ENV, "/nonexistent/chrome")
    with pytest.raises(ConfigError, match="Chromium not found at '/nonexistent/chrome'"):
        browser.find_chromium()
    monkeypatch.setenv(browser.CHROMIUM_ENV, sys.executable)  # any executable will do here
    assert browser.find_chromium() == shutil.which(sys.executable)
    assert browser.find_chromium("true") == shutil.which("true")
    monkeypatch.delenv(browser.CHROMIUM_ENV)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match=r"no Chromium found .*\(apt-get install chromium\)"):
        browser.find_chromium()


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
async def test_a_browser_pipeline_gets_a_browser_that_starts_on_first_use() -> None:
    pipe = Pipeline("p", base_url="http://127.0.0.1:8000", fetcher="browser", ready_selector="h1")
    client = FetchClient.from_settings(pipe.fetch)
    fetcher = client._fetcher
    assert isinstance(fetcher, browser.BrowserFetcher)
    assert fetcher.ready_selector == "h1" and fetcher.hosts == frozenset({"127.0.0.1"})
    assert fetcher.profile is None  # nothing launched yet
    await client.close()
