"""The real-browser fixtures (Chromium, axe, the live server) are web's: used here as they are."""

from dermbridge.web.tests.browser.conftest import browser_run, chromium, new_page

__all__ = ["browser_run", "chromium", "new_page"]
