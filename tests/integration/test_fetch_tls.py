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


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def _serve_tls(authority: trustme.CA, peers: list[object]) -> tuple[web.AppRunner, int]:
    async def page(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(text="<p class=a>secure</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def tls_site(authority: trustme.CA) -> AsyncIterator[tuple[int, list[object]]]:
    peers: list[object] = []
    runner, port = await _serve_tls(authority, peers)
    try:
        yield port, peers
    finally:
        await runner.cleanup()


async def test_https_page_with_a_trusted_certificate(
    authority: trustme.CA,
    tls_site: tuple[int, list[object]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, peers = tls_site
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    fetcher = HttpFetcher(timeout=5.0)
    try:
        for _ in range(3):
            page = await fetcher.fetch(Request(url=f"https://localhost:{port}/page"))
            assert page.status == 200 and page.one("p.a").text() == "secure"
        assert fetcher._wire is not None and fetcher._session is None  # the lean client
    finally:
        await fetcher.close()
    assert len(peers) == 3 and len(set(peers)) == 1  # one kept-alive TLS connection


async def test_https_certificate_from_an_unknown_authority_is_refused(
    tls_site: tuple[int, list[object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, peers = tls_site
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))  # trusts some other authority only
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger))
    fetcher = HttpFetcher(timeout=5.0)
    try:
        with pytest.raises(NetworkError) as refused:
            await fetcher.fetch(Request(url=f"https://localhost:{port}/page"))
    finally:
        await fetcher.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert "\n" not in str(refused.value) and peers == []


async def test_https_certificate_for_another_name_is_refused(
    authority: trustme.CA,
    tls_site: tuple[int, list[object]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, peers = tls_site
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    fetcher = HttpFetcher(timeout=5.0)
    try:
        with pytest.raises(NetworkError) as refused:  # the certificate names localhost only
            await fetcher.fetch(Request(url=f"https://127.0.0.1:{port}/page"))
    finally:
        await fetcher.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value) and peers == []
