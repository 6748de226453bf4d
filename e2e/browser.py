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


def settled(browser: webdriver.Chrome, seconds: float = 15) -> WebDriverWait:
    """A wait that rides out the page changing under it.

    When a click leads to a new page, or a script replaces a table's body, a lookup made at that moment
    can fail with "Node with given id does not belong to the document". Chromium reports that as a bare
    WebDriverException, not as the stale element that Selenium's waits already retry, so this wait
    retries every WebDriverException until the condition holds or the time is up.
    """
    return WebDriverWait(browser, seconds, ignored_exceptions=(WebDriverException,))
