"""The NHS.UK font loads under the Content-Security-Policy, and no page logs a console error.

The font (Frutiger, licensed to the NHS) is served only by NHS England at assets.nhs.uk; this
machine has no internet, so conftest answers those requests with a local stand-in font. What
the test proves: the CSP's font-src lets the browser fetch and use it, and nothing is refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from dermbridge.testing import World
from dermbridge.web.tests.browser.conftest import PHONE, BrowserRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FONT_LOADED = """async () => {
  await document.fonts.ready;
  await document.fonts.load('16px "Frutiger W01"');
  return [...document.fonts].filter(f => f.family.includes('Frutiger') && f.status === 'loaded')
    .map(f => f.weight);
}"""


def test_the_nhs_font_loads_under_the_csp_with_no_console_error(
    live_server: Any, world: World, new_page: Any, browser_run: BrowserRun
) -> None:
    page = new_page(PHONE, phone=True)
    page.goto(f"{live_server.url}/login/")
    loaded = page.evaluate(FONT_LOADED)
    assert "400" in loaded, loaded
    family = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert family.startswith('"Frutiger W01"'), family
    assert browser_run.nhs_fonts and all(
        u.startswith("https://assets.nhs.uk/fonts/") for u in browser_run.nhs_fonts
    )
    assert not browser_run.external, browser_run.external
    assert not browser_run.unexpected_console_errors(), browser_run.console_errors
