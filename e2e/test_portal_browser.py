"""The portal in a real browser: sign in with the printed credentials, see home and admin."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server


def sign_in(browser, server: Server, email: str, password: str, base_url: str | None = None) -> None:
    """Signs in through the form, at the server's own address or at `base_url` (a relay in front of it)."""
    browser.get(f"{base_url or server.url}/")
    settled(browser).until(ready.presence_of_element_located((By.ID, "login-form")))
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def test_sign_in_create_a_tenant_and_a_user_in_the_browser(server: Server, browser, artifacts):
    sign_in(browser, server, server.operator_email, "wrong password!")
    error = settled(browser).until(ready.visibility_of_element_located((By.CSS_SELECTOR, ".form-error")))
    assert "wrong" in error.text

    browser.find_element(By.NAME, "password").clear()
    browser.find_element(By.NAME, "password").send_keys(server.operator_password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    assert "Holdfast Operations" in browser.find_element(By.CSS_SELECTOR, ".who").text
    browser.save_screenshot(str(artifacts / "portal-home.png"))

    browser.find_element(By.LINK_TEXT, "Admin").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Tenants"))
    form = browser.find_element(By.CSS_SELECTOR, "form[data-api='/api/v1/tenants']")
    form.find_element(By.NAME, "name").send_keys("Acme Research")
    form.find_element(By.NAME, "slug").send_keys("acme")
    form.find_element(By.CSS_SELECTOR, "button").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#tenants tbody"), "Acme Research"))
    browser.get(f"{server.url}/admin?tenant=acme")
    user_form = settled(browser).until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "form[data-api='/api/v1/tenants/acme/users']"))
    )
    user_form.find_element(By.NAME, "email").send_keys("ann@acme.test")
    user_form.find_element(By.NAME, "password").send_keys("short")
    user_form.find_element(By.CSS_SELECTOR, "button").click()
    refusal = (By.CSS_SELECTOR, "form[data-api$='/users'] .form-error")
    settled(browser).until(ready.text_to_be_present_in_element(refusal, "at least 10 characters"))
    user_form.find_element(By.NAME, "password").clear()
    user_form.find_element(By.NAME, "password").send_keys("correct horse")
    user_form.find_element(By.CSS_SELECTOR, "button").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#users tbody"), "ann@acme.test"))
    browser.save_screenshot(str(artifacts / "portal-admin.png"))

    browser.find_element(By.CSS_SELECTOR, "[data-action=logout]").click()
    settled(browser).until(ready.presence_of_element_located((By.ID, "login-form")))
    browser.get(f"{server.url}/admin")
    assert "/login" in browser.current_url


def test_the_portal_fits_a_phone(server: Server, browser, artifacts):
    browser.set_window_size(390, 844)
    sign_in(browser, server, server.operator_email, server.operator_password)
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px wide"
    browser.save_screenshot(str(artifacts / "portal-phone.png"))
