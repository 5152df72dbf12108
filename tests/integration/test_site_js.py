"""The rehearsal site's JavaScript-built match page (for browser fetchers)."""

from __future__ import annotations

import aiohttp
from selectolax.lexbor import LexborHTMLParser


async def test_the_js_page_is_a_shell_whose_script_holds_the_match(start_site) -> None:  # type: ignore[no-untyped-def]
    site = await start_site()
    match = site.matches[99]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{site.url}/js/matches/{match.id}?delay=50") as answer:
            assert answer.status == 200
            html = await answer.text()
        async with session.get(f"{site.url}/js/matches/{match.id}?delay=soon") as bad:
            assert bad.status == 400
        async with session.get(f"{site.url}/js/matches/1") as missing:
            assert missing.status == 404
    page = LexborHTMLParser(html)
    assert page.css_first("#match") is None and page.css_first("#app") is not None
    script = page.css_first("script")
    assert script is not None
    assert "}, 50);" in script.text() and '\\"score\\"' in script.text()
    assert "</span>" not in script.text()  # escaped: nothing in it can end the script
