"""Real-browser fixtures: Debian's Chromium driven by Playwright against a live test server.

Playwright never downloads a browser here: it drives /usr/bin/chromium (installed by
scripts/ensure-chromium.sh) through `executable_path`. Without it every browser test skips and
says why. Each page a test visits is checked with axe-core (from node_modules) and any request
that would leave this machine is blocked and recorded, so a test can assert there were none.

Two exceptions to "nothing leaves": the NHS.UK stylesheet's Frutiger web font, which only NHS
England may serve (https://assets.nhs.uk/fonts/, allowed by the CSP's font-src). This machine has
no internet, so those requests are answered with a local stand-in font (DejaVu Sans) and recorded
in `BrowserRun.nhs_fonts`: the browser still proves the CSP lets the font load. Every console
error (a CSP refusal, a failed resource, a script error) fails the test when its page closes,
unless the test named it in `BrowserRun.expected_console` (a page that is meant to answer 404).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

CHROMIUM = os.environ.get("DERMBRIDGE_CHROMIUM", "/usr/bin/chromium")
REPO = Path(settings.REPO_DIR)
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "browser"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
NHS_FONTS = "https://assets.nhs.uk/fonts/"
STAND_IN_FONT = Path(
    os.environ.get("DERMBRIDGE_STAND_IN_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
)
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class _OneRequestAtATimeServer(ThreadedWSGIServer):
    """The live server, answering one request at a time (threads still accept connections).

    The test database is SQLite in shared-cache memory, where two writes meeting fail at once
    ("database table is locked") instead of waiting; a browser fetches thumbnails in parallel
    and each read is audited (a write). File SQLite and PostgreSQL wait for the lock, so this
    only makes the test server behave like them."""

    def set_app(self, application: Any) -> None:
        lock = threading.Lock()

        def serial(environ: Any, start_response: Any) -> Any:
            with lock:
                return application(environ, start_response)

        super().set_app(serial)


# Only the browser tests start pytest-django's live server.
LiveServerThread.server_class = _OneRequestAtATimeServer


def _why_no_browser() -> str:
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM}: run scripts/ensure-chromium.sh as root"
    if not AXE.exists():
        return f"axe-core not found at {AXE}: run npm ci"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return ""


@dataclass
class BrowserRun:
    """What one test saw: the axe results of each page and every request that left the host."""

    axe: dict[str, dict[str, int]] = field(default_factory=dict)
    external: list[str] = field(default_factory=list)
    bytes_by_page: dict[str, dict[str, int]] = field(default_factory=dict)
    check_seconds: dict[str, float] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    # Substrings of console errors a test expects (e.g. "status of 404" on a not-found page).
    expected_console: list[str] = field(default_factory=list)
    nhs_fonts: list[str] = field(default_factory=list)

    def unexpected_console_errors(self) -> list[str]:
        return [e for e in self.console_errors if not any(x in e for x in self.expected_console)]


# One Playwright and one Chromium per test process. Other apps' browser tests import these
# fixtures into their own conftest (clinics, lesions), which pytest registers as separate
# session fixtures; a second sync_playwright() in the same process fails ("Sync API inside the
# asyncio loop"), so every registration shares the first one's browser.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    reason = _why_no_browser()
    if reason:
        pytest.skip(reason)
    if "browser" in _SHARED:
        yield _SHARED["browser"]  # the first registration closes it, last (session teardown)
        return
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        _SHARED["browser"] = browser
        yield browser
        browser.close()
    finally:
        _SHARED.clear()
        pw.stop()


@pytest.fixture
def browser_run() -> BrowserRun:
    return BrowserRun()


@pytest.fixture
def new_page(chromium: Any, browser_run: BrowserRun) -> Iterator[Any]:
    """Open a page at phone or desktop size; requests off this machine are blocked and noted."""
    contexts: list[Any] = []

    def block_external(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        elif url.startswith(NHS_FONTS) and STAND_IN_FONT.exists():
            browser_run.nhs_fonts.append(url)
            route.fulfill(
                status=200,
                body=STAND_IN_FONT.read_bytes(),
                headers={"Content-Type": "font/ttf", "Access-Control-Allow-Origin": "*"},
            )
        else:
            browser_run.external.append(url)
            route.abort()

    def make(viewport: dict[str, int], *, phone: bool = False) -> Any:
        context = chromium.new_context(
            viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=1
        )
        context.route("**/*", block_external)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda m: (
                browser_run.console_errors.append(f"{page.url}: {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: browser_run.console_errors.append(f"{page.url}: {e}"))
        page.on(
            "response",
            lambda r: (
                browser_run.server_errors.append(f"{r.status} {r.url}") if r.status >= 500 else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    unexpected = browser_run.unexpected_console_errors()
    assert not unexpected, "console errors:\n" + "\n".join(unexpected)


def check_page(page: Any, run: BrowserRun, name: str, *, full_page: bool = True) -> None:
    """Screenshot the page and run axe-core on it: no serious or critical violation allowed."""
    started = time.perf_counter()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run.bytes_by_page[name] = page_weight(page)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, not a <script> tag: the page's CSP (rightly) refuses
        # inline scripts, and the test must not loosen it.
        page.evaluate("() => {\n" + AXE.read_text() + "\n}")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
              runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
              targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    counts: dict[str, int] = {}
    for violation in result:
        counts[violation["impact"] or "unknown"] = (
            counts.get(violation["impact"] or "unknown", 0) + 1
        )
    run.axe[name] = counts
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(result, indent=2))
    run.check_seconds[name] = round(time.perf_counter() - started, 2)
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name}: {json.dumps(bad, indent=2)}"


# How many Tab presses from the focused element to the first element matching a selector, in
# document order (radios count once per group, as the browser tabs): a guess that saves a round
# trip per press; tab_to still checks where focus really is.
_TAB_DISTANCE = """s => {
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  const seen = new Set();
  const list = [...document.querySelectorAll(sel)].filter(e => {
    if (e.disabled || e.tabIndex < 0 || !e.getClientRects().length) return false;
    if (e.type === 'radio') {
      const group = [...document.getElementsByName(e.name)];
      const stop = group.find(r => r.checked) || group[0];
      if (e !== stop || seen.has(e.name)) return false;
      seen.add(e.name);
    }
    return true;
  });
  const target = list.findIndex(e => e.matches(s));
  const from = list.indexOf(document.activeElement);
  return target < 0 ? 0 : target - from;
}"""


def tab_to(page: Any, selector: str, *, limit: int = 120) -> None:
    """Press Tab until the element matching `selector` has focus: proves it is reachable by
    keyboard (and the test then acts on it with keys only)."""
    for _ in range(max(0, page.evaluate(_TAB_DISTANCE, selector) - 1)):
        page.keyboard.press("Tab")
    for _ in range(limit):
        if page.evaluate(
            "s => !!document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached by Tab in {limit} presses")


def page_weight(page: Any) -> dict[str, int]:
    """Bytes the page and its assets took (Resource Timing): `transfer` over the wire in this
    visit (cached assets count 0), `body` the encoded size of everything the page uses."""
    return page.evaluate(
        """() => {
            const entries = [...performance.getEntriesByType('navigation'),
                             ...performance.getEntriesByType('resource')];
            return {
              transfer: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
              body: entries.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
              requests: entries.length,
            };
        }"""
    )
