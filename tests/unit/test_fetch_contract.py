from __future__ import annotations

import pytest

from scrapeline.errors import Category, ContractError
from scrapeline.fetch.contract import Expect, check_contract, contract_problems
from scrapeline.fetch.response import Response

HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}
PAGE = b"<html><body><table class=stats><tr><td>1</td></tr></table></body></html>"
DATA = b'{"data": {"items": [], "total": 0}, "ok": true}'


def response(status: int = 200, headers: dict[str, str] = HTML, body: bytes = PAGE) -> Response:
    return Response(url="http://site.test/p", status=status, headers=headers, body=body)


@pytest.mark.parametrize(
    ("expect", "resp", "problems"),
    [
        (Expect(), response(), []),
        (Expect(), response(status=204), ["status 204, expected 200"]),
        (Expect(status={200, 404}), response(status=404), []),
        (Expect(status={404, 200}), response(status=500), ["status 500, expected 200, 404"]),
        (  # a wrong status says enough: the body is not examined
            Expect(selectors=("div.nope",)),
            response(status=201),
            ["status 201, expected 200"],
        ),
        (Expect(content_type="text/html"), response(), []),
        (Expect(content_type=" Text/HTML "), response(), []),
        (
            Expect(content_type="application/json"),
            response(),
            ["content type 'text/html', expected 'application/json'"],
        ),
        (
            Expect(content_type="text/html"),
            response(headers={}),
            ["content type 'none', expected 'text/html'"],
        ),
        (Expect(selectors=("table.stats", "td")), response(), []),
        # an untyped caller's lone string is one selector, not a tuple of characters
        (Expect(selectors="table.stats"), response(), []),  # type: ignore[arg-type]
        (
            Expect(selectors=("table.stats", "div.score", "span.x")),
            response(),
            ["no element matches 'div.score'", "no element matches 'span.x'"],
        ),
        (Expect(selectors=("table",)), response(body=b""), ["no element matches 'table'"]),
        (Expect(json_keys=("ok", "data", "data.items")), response(200, JSON, DATA), []),
        (
            Expect(json_keys=("data.total", "data.next", "ok.deeper", "missing")),
            response(200, JSON, DATA),
            [
                "JSON has no key 'data.next'",
                "JSON has no key 'ok.deeper'",
                "JSON has no key 'missing'",
            ],
        ),
        (Expect(json_keys=("a",)), response(200, JSON, b"[1, 2]"), ["JSON has no key 'a'"]),
        (Expect(json_keys=("a",)), response(200, JSON, b"<html>"), ["body is not JSON"]),
        (
            Expect(content_type="application/json", json_keys=("a",)),
            response(200, HTML, b"{}"),
            ["content type 'text/html', expected 'application/json'", "JSON has no key 'a'"],
        ),
    ],
)
def test_contract_problems(expect: Expect, resp: Response, problems: list[str]) -> None:
    assert contract_problems(expect, resp) == problems


def test_check_contract_raises_one_contract_error_naming_every_problem() -> None:
    with pytest.raises(ContractError) as info:
        check_contract(Expect(selectors=("div.a", "div.b")), response())
    error = info.value
    assert error.category is Category.CONTRACT and not error.retryable
    assert error.url == "http://site.test/p" and error.status == 200
    assert error.message == (
        "response breaks its contract: no element matches 'div.a'; no element matches 'div.b'"
    )


def test_check_contract_passes_quietly() -> None:
    check_contract(Expect(selectors=("td",)), response())


def test_expect_is_a_hashable_value() -> None:
    a = Expect(status={200, 404}, selectors=("td",))
    b = Expect(status=frozenset({404, 200}), selectors=("td",))
    assert a == b and hash(a) == hash(b)
    assert a.status == frozenset({200, 404})
