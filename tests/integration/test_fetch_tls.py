"""HTTPS through the lean client: a real TLS server on 127.0.0.1 with a certificate from a
throw-away certificate authority, trusted through ``SSL_CERT_FILE`` as a user's system
store would be."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from scrapeline.errors import NetworkError
from scrapeline.fetch.response import Request
from scrapeline.fetch.transport import HttpFetcher
from tests.servers import serve


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def site(authority: trustme.CA) -> AsyncIterator[tuple[str, list[object]]]:
    """A TLS site whose certificate names ``localhost``: (its https://localhost URL, peers)."""
    peers: list[object] = []

    async def page(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(text="<p class=a>secure</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(tls)
    async with serve(app, tls=tls) as base:
        yield base.replace("127.0.0.1", "localhost"), peers


def trust(ca: trustme.CA, where: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``ca`` the only authority the default SSL context trusts."""
    ca.cert_pem.write_to_path(str(where))
    monkeypatch.setenv("SSL_CERT_FILE", str(where))


async def fetch(url: str) -> HttpFetcher:
    fetcher = HttpFetcher(timeout=5.0)
    try:
        await fetcher.fetch(Request(url=url))
    finally:
        await fetcher.close()
    return fetcher


async def test_https_page_with_a_trusted_certificate(
    authority: trustme.CA,
    site: tuple[str, list[object]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, peers = site
    trust(authority, tmp_path / "ca.pem", monkeypatch)
    fetcher = HttpFetcher(timeout=5.0)
    try:
        for _ in range(3):
            page = await fetcher.fetch(Request(url=f"{base}/page"))
            assert page.status == 200 and page.one("p.a").text() == "secure"
        assert fetcher._wire is not None and fetcher._session is None  # the lean client
    finally:
        await fetcher.close()
    assert len(peers) == 3 and len(set(peers)) == 1  # one kept-alive TLS connection


async def test_https_certificate_from_an_unknown_authority_is_refused(
    site: tuple[str, list[object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, peers = site
    trust(trustme.CA(), tmp_path / "other-ca.pem", monkeypatch)
    with pytest.raises(NetworkError) as refused:
        await fetch(f"{base}/page")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert "\n" not in str(refused.value) and peers == []


async def test_https_certificate_for_another_name_is_refused(
    authority: trustme.CA,
    site: tuple[str, list[object]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, peers = site
    trust(authority, tmp_path / "ca.pem", monkeypatch)
    with pytest.raises(NetworkError) as refused:  # the certificate names localhost only
        await fetch(f"{base.replace('localhost', '127.0.0.1')}/page")
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value) and peers == []
