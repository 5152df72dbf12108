"""FetchSettings: one checked, unchanging value of how a pipeline reaches the network."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import pytest

from scrapeline.errors import ConfigError, PipelineError
from scrapeline.fetch.client import FetchClient
from scrapeline.fetch.settings import FetchSettings
from scrapeline.pipeline import Pipeline


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({"fetcher": "curl"}, PipelineError, "fetcher must be one of 'http', 'browser'"),
        (
            {"fetcher": "browser", "proxies": ("http://p.example:3128",)},
            PipelineError,
            "the browser fetcher does not go through proxies= yet",
        ),
        ({"max_body": 0}, PipelineError, "max_body must be a positive number of bytes, got 0"),
        ({"max_body": True}, PipelineError, "max_body must be a positive number of bytes"),
        ({"max_body": 1.5}, PipelineError, "max_body must be a positive number of bytes"),
        ({"secrets": ("long-enough-1", "abc")}, PipelineError, "secret number 2 is shorter"),
        ({"proxies": ("socks5://p.example:1080",)}, ConfigError, "socks"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_when_built(
    given: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        FetchSettings(**given)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("fetcher", "curl"),
        ("max_body", -1),
        ("secrets", ("abc",)),
    ],
)
def test_the_pipeline_gives_the_same_errors_as_before(given: str, expected: Any) -> None:
    with pytest.raises(PipelineError) as from_pipeline:
        Pipeline("p", **{given: expected})
    with pytest.raises(PipelineError) as from_settings:
        FetchSettings(**{given: expected})
    assert str(from_pipeline.value) == str(from_settings.value)


@pytest.mark.parametrize(
    ("base_url", "hosts", "expected_url", "expected_hosts"),
    [
        (None, (), None, ()),
        ("https://a.example/", (), "https://a.example", ("a.example",)),
        ("https://a.example", ("cdn.example",), "https://a.example", ("cdn.example", "a.example")),
        ("https://a.example", ("a.example", "a.example"), "https://a.example", ("a.example",)),
        (None, "one.example", None, ("one.example",)),
    ],
)
def test_base_url_and_hosts_are_normalised(
    base_url: str | None, hosts: Any, expected_url: str | None, expected_hosts: tuple[str, ...]
) -> None:
    settings = FetchSettings(base_url=base_url, hosts=hosts)
    assert settings.base_url == expected_url
    assert settings.hosts == expected_hosts


def test_with_base_url_gives_a_new_value_and_leaves_this_one() -> None:
    settings = FetchSettings(base_url="https://a.example", hosts=("cdn.example",))
    mirror = settings.with_base_url("http://127.0.0.1:8000/")
    assert mirror.base_url == "http://127.0.0.1:8000"
    assert mirror.hosts == ("cdn.example", "a.example", "127.0.0.1")
    assert settings.base_url == "https://a.example"
    assert settings.hosts == ("cdn.example", "a.example")
    assert mirror.with_base_url("http://127.0.0.1:9000").hosts == mirror.hosts


def test_the_value_cannot_be_changed() -> None:
    headers = {"X-Token": "t"}
    settings = FetchSettings(headers=headers, cookies={"sid": "s"})
    headers["X-Token"] = "changed"  # the caller's dict is copied
    assert settings.headers == {"X-Token": "t"}
    with pytest.raises(TypeError):
        settings.headers["X-Token"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        settings.cookies["sid"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rate = "1/s"  # type: ignore[misc]


def test_secrets_are_kept_out_of_its_repr() -> None:
    settings = FetchSettings(
        headers={"Authorization": "Bearer s3cret-token"},
        cookies={"sid": "cookie-value-1"},
        proxies=("http://user:proxy-pass-1@p.example:3128",),
        secrets=("extra-secret-1",),
    )
    shown = repr(settings)
    for secret in ("s3cret-token", "cookie-value-1", "proxy-pass-1", "extra-secret-1"):
        assert secret not in shown
    assert set(settings.secret_values()) >= {"s3cret-token", "proxy-pass-1", "extra-secret-1"}


def test_pipeline_keeps_its_keywords_and_reads_through_its_settings() -> None:
    pipe = Pipeline(
        "p", base_url="https://a.example", rate="2/s", headers={"X": "1"}, proxies="http://p:1"
    )
    assert pipe.fetch.base_url == pipe.base_url == "https://a.example"
    assert pipe.hosts == ("a.example",) and pipe.rate == "2/s" and pipe.headers == {"X": "1"}
    assert pipe.proxies == ("http://p:1",)
    assert pipe.robots_agent == "p"  # robots.txt groups match the pipeline's name by default
    mirror = pipe.fetch.with_base_url("http://127.0.0.1:8000")
    assert mirror.base_url == "http://127.0.0.1:8000"
    assert list(mirror.hosts) == ["a.example", "127.0.0.1"]
    assert pipe.base_url == "https://a.example"  # a new value; the pipeline is unchanged
    with pytest.raises(AttributeError):
        pipe.base_url = "https://b.example"  # type: ignore[misc]


def test_settings_replaced_on_the_pipeline_are_checked_again() -> None:
    pipe = Pipeline("p")
    pipe.fetch = replace(pipe.fetch, max_body=10)
    assert pipe.max_body == 10
    with pytest.raises(PipelineError, match="max_body must be a positive number"):
        pipe.fetch = replace(pipe.fetch, max_body=0)
    assert pipe.max_body == 10
    with pytest.raises(AttributeError):
        pipe.max_body = 5  # type: ignore[misc]


async def test_a_client_from_settings_declares_the_settings_hosts() -> None:
    settings = FetchSettings(base_url="https://a.example", hosts=("cdn.example",))
    client = FetchClient.from_settings(settings)
    try:
        assert client.hosts == {"a.example", "cdn.example"}
    finally:
        await client.close()


async def test_a_client_from_settings_refuses_a_rate_that_cannot_work() -> None:
    with pytest.raises(ConfigError):
        FetchClient.from_settings(FetchSettings(rate="fast"))
