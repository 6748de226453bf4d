"""The support desk's pages in Chromium: the ticket form with its promise, and the agent console."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select

from browser import settled
from conftest import Server
from test_portal_browser import sign_in
from test_sessions import member, start_session


def test_a_customer_files_a_ticket_by_the_form_and_sees_the_promise_in_their_zone(server: Server, browser, artifacts):
    ann = member(server)
    session_id = start_session(server, ann)
    # The customer is in Tokyo; the support team keeps London hours.
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    sign_in(browser, server, "ann@acme.test", "correct horse")
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    browser.find_element(By.LINK_TEXT, "Support").click()
    promise = settled(browser).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#new-ticket .promise")))
    assert promise.text.startswith("We will answer by"), promise.text
    assert promise.text.endswith("(Asia/Tokyo)."), promise.text
    expected = requests.get(
        f"{server.url}/api/v1/support/promise", params={"kind": "bug", "zone": "Asia/Tokyo"}, timeout=10
    ).json()["text"]
    assert promise.text == expected

    form = browser.find_element(By.ID, "ticket-form")
    Select(form.find_element(By.NAME, "kind")).select_by_value("outage")
    form.find_element(By.NAME, "subject").send_keys("Terminal froze <script>alert(1)</script>")
    form.find_element(By.NAME, "whatHappened").send_keys("I typed ls and nothing came back.")
    form.find_element(By.NAME, "description").send_keys("Happened twice today.\nBoth times after a Wi-Fi drop.")
    Select(form.find_element(By.NAME, "sessionId")).select_by_value(session_id)
    browser.save_screenshot(str(artifacts / "support-form.png"))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    heading = settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "#1 "))
    assert heading
    assert browser.find_element(By.TAG_NAME, "h1").text == "#1 Terminal froze <script>alert(1)</script>"
    assert "Both times after a Wi-Fi drop." in browser.find_element(By.CSS_SELECTOR, "#ticket .facts").text
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline")  # the session's timeline came with it
    browser.save_screenshot(str(artifacts / "support-ticket.png"))

    [ticket] = ann.get(f"{server.url}/api/v1/tickets", timeout=10).json()["items"]
    assert ticket["channel"] == "web"
    assert ticket["kind"] == "outage"
    assert ticket["sessionId"] == session_id
    assert ticket["subject"] == "Terminal froze <script>alert(1)</script>"


def test_the_agent_console_orders_the_queue_marks_breaches_and_answers(server: Server, browser, artifacts):
    ann = member(server)
    fresh = ann.post(
        f"{server.url}/api/v1/tickets",
        json={"kind": "question", "subject": "Quota?", "description": "How much space do I have?",
              "occurredAt": "2026-11-26T10:00:00Z", "whatHappened": "Nothing broke."},
        timeout=10,
    )
    assert fresh.status_code == 201, fresh.text
    operator = server.operator()
    numbers = []
    # Two phone calls taken earlier in the week: both long overdue, Monday's the more so.
    for received in ("2026-11-24T09:00:00Z", "2026-11-23T10:00:00Z"):
        call = operator.post(
            f"{server.url}/api/v1/tickets",
            json={"kind": "outage", "channel": "phone", "requester": "ann@acme.test", "receivedAt": received,
                  "subject": f"Called at {received}", "description": "Nothing loads.", "occurredAt": received,
                  "whatHappened": "Every page answers 502."},
            timeout=10,
        )
        assert call.status_code == 201, call.text
        assert call.json()["channel"] == "phone"
        assert call.json()["requesterId"] == fresh.json()["requesterId"]
        numbers.append(call.json()["number"])

    sign_in(browser, server, server.operator_email, server.operator_password)
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    browser.find_element(By.LINK_TEXT, "Console").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Agent console"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#queue tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "td").text for row in rows] == [str(numbers[1]), str(numbers[0]), "1"]
    assert ["breached" in row.get_attribute("class") for row in rows] == [True, True, False]
    assert rows[0].find_element(By.CSS_SELECTOR, ".time-left").text.startswith("Breached ")
    assert rows[0].find_element(By.CSS_SELECTOR, ".time-left").text.endswith(" ago")
    assert rows[2].find_element(By.CSS_SELECTOR, ".time-left").text.endswith(" left")
    browser.save_screenshot(str(artifacts / "support-console.png"))

    rows[2].find_element(By.LINK_TEXT, "Quota?").click()
    reply = settled(browser).until(ready.presence_of_element_located((By.ID, "reply-form")))
    reply.find_element(By.NAME, "body").send_keys("Check the plan first.")
    Select(reply.find_element(By.NAME, "visibility")).select_by_value("internal")
    reply.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".replies"), "internal note"))
    reply = browser.find_element(By.ID, "reply-form")
    reply.find_element(By.NAME, "body").send_keys("You have 20 GB; 3 GB are used.")
    Select(reply.find_element(By.NAME, "status")).select_by_value("waiting-on-customer")
    reply.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, ".replies"), "20 GB"))
    assert "waiting-on-customer" in browser.find_element(By.CSS_SELECTOR, "#ticket .badge").text

    seen = ann.get(f"{server.url}/api/v1/tickets/{fresh.json()['id']}", timeout=10).json()
    assert [r["body"] for r in seen["replies"]] == ["You have 20 GB; 3 GB are used."]  # the note stays with the team
    assert seen["firstRespondedAt"] is not None

    browser.get(f"{server.url}/console")
    rows = settled(browser).until(ready.presence_of_all_elements_located((By.CSS_SELECTOR, "#queue tbody tr")))
    assert [row.find_element(By.CSS_SELECTOR, "td").text for row in rows] == [str(numbers[1]), str(numbers[0])]


def test_the_console_is_for_the_team_only(server: Server, browser):
    member(server)
    sign_in(browser, server, "ann@acme.test", "correct horse")
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    assert not browser.find_elements(By.LINK_TEXT, "Console")
    browser.get(f"{server.url}/console")
    assert "Not for your role" in browser.find_element(By.TAG_NAME, "h1").text
