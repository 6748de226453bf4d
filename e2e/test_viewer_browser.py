"""The terminal viewer in Chromium: type, lose the connection, see the overlay, resume."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server
from terminal import Relay


def screen_text(browser) -> str:
    return browser.execute_script("const rows = document.querySelector('.xterm-rows'); return rows ? rows.innerText : '';")


def wait_for_screen(browser, text: str, timeout: float = 20) -> None:
    settled(browser, timeout).until(lambda driver: text in screen_text(driver), f"{text!r} never appeared on the terminal")


def test_the_viewer_survives_a_dropped_connection(server: Server, browser, artifacts):
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    server.cli("admin", "create-user", "--tenant", "acme", "--email", "ann@acme.test", "--password", "correct horse", "--role", "member")
    relay = Relay(int(server.url.rsplit(":", 1)[1]))
    try:
        browser.get(f"{relay.url}/login")
        browser.find_element(By.NAME, "email").send_keys("ann@acme.test")
        browser.find_element(By.NAME, "password").send_keys("correct horse")
        browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        settled(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=new-session][data-kind=terminal]"))).click()

        settled(browser, 20).until(ready.url_contains("/sessions/"))
        wait_for_screen(browser, "user@holdfast")
        settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
        terminal = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        terminal.send_keys("export KEPT=yes; echo typed-$((40+2))\n")
        wait_for_screen(browser, "typed-42")

        relay.cut()
        overlay = settled(browser).until(ready.visibility_of_element_located((By.ID, "overlay")))
        settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "overlay-text"), "held until"))
        assert "min left" in browser.find_element(By.ID, "overlay-text").text
        browser.save_screenshot(str(artifacts / "viewer-connection-lost.png"))

        relay.restore()
        settled(browser, 20).until(ready.invisibility_of_element(overlay))
        settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
        wait_for_screen(browser, "typed-42")  # the redraw shows the screen as it was
        terminal = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        terminal.send_keys("echo still-$KEPT\n")
        wait_for_screen(browser, "still-yes")
        browser.save_screenshot(str(artifacts / "viewer-resumed.png"))
    finally:
        relay.close()


def test_the_home_page_lists_sessions_with_their_state(server: Server, browser):
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    server.cli("admin", "create-user", "--tenant", "acme", "--email", "ann@acme.test", "--password", "correct horse", "--role", "member")
    http = server.login("ann@acme.test", "correct horse")
    session_id = http.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30).json()["id"]
    browser.get(f"{server.url}/login")
    browser.find_element(By.NAME, "email").send_keys("ann@acme.test")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    row = settled(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-session='{session_id}']")))
    assert "starting" in row.text
    row.find_element(By.CSS_SELECTOR, f"[data-close-session='{session_id}']").click()
    # The close returns once the final snapshot is verified (the first also creates the repository).
    settled(browser, 60).until(ready.presence_of_element_located((By.ID, "sessions-empty")))
    assert http.get(f"{server.url}/api/v1/sessions/{session_id}", timeout=10).json()["state"] == "closed"
