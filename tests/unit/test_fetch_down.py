"""When a failed request shows its host down from the start, and how that reads."""

from __future__ import annotations

import socket

import pytest

from scrapeline.errors import (
    Blocked,
    FetchError,
    FetchTimeout,
    HTTPError,
    NetworkError,
    ProxyError,
    RateLimited,
    ResponseTooLarge,
)
from scrapeline.fetch.down import HostUnreachable, down_from_start, what_failed
from scrapeline.fetch.origins import host_port


def caused(error: FetchError, cause: BaseException) -> FetchError:
    error.__cause__ = cause
    return error


REFUSED = caused(NetworkError("Connect call failed"), ConnectionRefusedError(111, "refused"))


@pytest.mark.parametrize(
    ("error", "responses", "down"),
    [
        pytest.param(REFUSED, 0, True, id="refused-before-any-answer"),
        pytest.param(FetchTimeout("no complete response"), 0, True, id="timed-out-never-answered"),
        pytest.param(NetworkError("Server disconnected"), 0, True, id="dropped-never-answered"),
        pytest.param(REFUSED, 1, False, id="refused-after-an-answer"),
        pytest.param(FetchTimeout("slow"), 20, False, id="timeout-after-answers"),
        pytest.param(HTTPError("HTTP 503", status=503), 0, False, id="5xx-is-an-answer"),
        pytest.param(HTTPError("HTTP 404", status=404), 0, False, id="404-is-a-wrong-url"),
        pytest.param(RateLimited("HTTP 429", status=429), 0, False, id="429-is-an-answer"),
        pytest.param(Blocked("HTTP 403", status=403), 0, False, id="blocked-is-an-answer"),
        pytest.param(ResponseTooLarge("too large"), 0, False, id="too-large-is-an-answer"),
        pytest.param(ProxyError("all proxies benched"), 0, False, id="the-proxies-not-the-host"),
        pytest.param(
            NetworkError("invalid URL", retryable=False), 0, False, id="not-a-matter-of-retrying"
        ),
    ],
)
def test_a_host_is_down_from_the_start_only_when_it_never_answered(
    error: FetchError, responses: int, down: bool
) -> None:
    assert down_from_start(error, responses=responses) is down


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (REFUSED, "connection refused"),
        (caused(NetworkError("x"), ConnectionResetError(104, "reset")), "connection reset"),
        (caused(NetworkError("x"), socket.gaierror(-2, "Name not known")), "host name not found"),
        (caused(NetworkError("x"), OSError("Multiple exceptions")), "no answer"),
        (FetchTimeout("no complete response within 30 s"), "no answer in time"),
    ],
)
def test_what_failed_says_it_in_a_few_words(error: FetchError, words: str) -> None:
    assert what_failed(error) == words


def test_the_halt_names_the_host_the_failure_and_the_attempts() -> None:
    error = caused(NetworkError("[Errno 111] Connect call failed"), ConnectionRefusedError(111, ""))
    halt = HostUnreachable("127.0.0.1:8000", error, attempts=1)
    assert str(halt) == (
        "127.0.0.1:8000 is down: connection refused "
        "(1 attempt, no answer from it in this run; last: [Errno 111] Connect call failed)"
    )
    assert halt.exit_code == 3 and halt.host == "127.0.0.1:8000"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8000/results?offset=0", "127.0.0.1:8000"),
        ("https://Stats.Example.org/x", "stats.example.org:443"),
        ("http://user:secret@example.org/?token=1", "example.org:80"),
        ("http://[::1]:8080/", "[::1]:8080"),
    ],
)
def test_host_port_is_what_a_person_calls_the_host(url: str, shown: str) -> None:
    assert host_port(url) == shown
