"""FakeFetcher specifics; the behaviour it shares with HttpFetcher is held by
tests/integration/test_fetch_transport.py."""

from __future__ import annotations

import pytest

from scrapeline.errors import FetchTimeout, NetworkError
from scrapeline.fetch.response import Request
from scrapeline.fetch.transport import FakeFetcher, FakeReply

URL = "http://site.test/a"


async def test_dict_routes_answer_by_exact_url_and_404_otherwise() -> None:
    fake = FakeFetcher({URL: (200, {"Content-Type": "text/plain"}, "hi")})
    ok = await fake.fetch(Request(url=URL))
    missing = await fake.fetch(Request(url=URL + "?page=2"))
    assert (ok.status, ok.body, ok.text) == (200, b"hi", "hi")
    assert missing.status == 404
    assert [r.url for r in fake.requests] == [URL, URL + "?page=2"]


@pytest.mark.parametrize(
    "error",
    [
        NetworkError("connection reset"),
        FetchTimeout("too slow"),
        NetworkError("x", retryable=False),
    ],
)
async def test_dict_routes_raise_scripted_errors_fresh_each_time(
    error: NetworkError | FetchTimeout,
) -> None:
    fake = FakeFetcher({URL: error})
    raised = []
    for _ in range(2):
        with pytest.raises(type(error)) as info:
            await fake.fetch(Request(url=URL))
        raised.append(info.value)
    assert raised[0] is not raised[1] and raised[0] is not error
    assert all(e.url == URL and e.retryable == error.retryable for e in raised)


async def test_async_handler_and_latency() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def answer(request: Request) -> FakeReply:
        return (201, {}, request.url.encode())

    fake = FakeFetcher(answer, latency=0.25, sleep=sleep, keep_requests=False)
    response = await fake.fetch(Request(url=URL))
    assert (response.status, response.body, slept, fake.requests) == (201, URL.encode(), [0.25], [])
