"""Headless Chromium from Debian, driven by Selenium through Debian's chromedriver."""

from __future__ import annotations

import shutil

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


def chromium() -> webdriver.Chrome:
    """A fresh headless browser; as root Chromium needs --no-sandbox."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


# Errors that no amount of waiting mends: the browser or its window is gone.
_FATAL = ("invalid session id", "chrome not reachable", "disconnected:", "no such window", "session deleted")


class BrowserGone(RuntimeError):
    """The browser died under a wait: reported at once, not as a timeout after the wait's time."""


class _SettledWait(WebDriverWait):
    def until(self, method, message: str = ""):
        def guarded(driver):
            try:
                return method(driver)
            except WebDriverException as error:
                if any(fatal in (error.msg or "").lower() for fatal in _FATAL):
                    raise BrowserGone(error.msg) from error
                raise

        return super().until(guarded, message)


def settled(browser: webdriver.Chrome, seconds: float = 15) -> WebDriverWait:
    """A wait that rides out the page changing under it.

    When a click leads to a new page, or a script replaces a table's body, a lookup made at that moment
    can fail with "Node with given id does not belong to the document". Chromium reports that as a bare
    WebDriverException, not as the stale element that Selenium's waits already retry, so this wait
    retries WebDriverExceptions until the condition holds or the time is up. A dead browser or window
    is not waited out: it raises BrowserGone at once.
    """
    return _SettledWait(browser, seconds, ignored_exceptions=(WebDriverException,))
