"""Files in and out of a workspace, in Chromium: the Files page, and files dropped onto a terminal or a desktop.

Selenium cannot drag from the desktop of the machine, so a drop is made in the page: a `DataTransfer`
holding `File`s built in JavaScript, dispatched as dragenter, dragover and drop. What the page did is
then checked through the API with the user's own bearer token.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile

import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready

from browser import settled
from conftest import Server
from terminal import Relay
from test_portal_browser import sign_in
from test_viewer_browser import wait_for_screen

EMAIL = "ann@acme.test"
PASSWORD = "correct horse"

# Drops text files (name → content) onto the element at `selector`, as a drag from the desktop would.
# Answers whether the element was marked as a drop target while the files were over it.
DROP = """
const [selector, files] = arguments;
const target = document.querySelector(selector);
const transfer = new DataTransfer();
for (const [name, text] of Object.entries(files)) transfer.items.add(new File([text], name, { type: "text/plain" }));
const fire = (type) => target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
fire("dragenter");
fire("dragover");
const marked = target.classList.contains("drop-target");
fire("drop");
return marked && !target.classList.contains("drop-target");
"""


def ann(server: Server) -> requests.Session:
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    server.cli("admin", "create-user", "--tenant", "acme", "--email", EMAIL, "--password", PASSWORD, "--role", "member")
    return server.login(EMAIL, PASSWORD)


def drop(browser, selector: str, files: dict[str, str]) -> None:
    assert browser.execute_script(DROP, selector, files), f"{selector} was not marked while files were dragged over it"


def workspace_file(server: Server, http: requests.Session, path: str) -> requests.Response:
    return http.get(f"{server.url}/api/v1/workspace/files", params={"path": path}, timeout=60)


def listing(server: Server, http: requests.Session, path: str) -> list[dict]:
    response = http.get(f"{server.url}/api/v1/workspace/files", params={"path": path, "list": "1"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def row(path: str) -> tuple[str, str]:
    return (By.CSS_SELECTOR, f"#entries tr[data-path='{path}']")


def upload_row(name: str, state: str) -> tuple[str, str]:
    return (By.CSS_SELECTOR, f"#uploads li[data-name='{name}'][data-state='{state}']")


def open_files(browser, server: Server | Relay, query: str = "") -> None:
    browser.get(f"{server.url}/files{query}")
    settled(browser).until(ready.invisibility_of_element_located((By.ID, "loading")))


def test_files_go_in_and_out_through_the_files_page(server: Server, browser, artifacts, tmp_path):
    http = ann(server)
    sign_in(browser, server, EMAIL, PASSWORD)
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
    browser.find_element(By.LINK_TEXT, "Files").click()
    settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your files"))
    settled(browser).until(ready.invisibility_of_element_located((By.ID, "loading")))
    usage = settled(browser).until(ready.visibility_of_element_located((By.ID, "usage")))
    assert "GiB" in usage.text or "MiB" in usage.text, usage.text

    # Files dropped onto the page land in the folder shown, an empty one too.
    drop(browser, "#drop-zone", {"dropped.txt": "dropped bytes\n", "empty.txt": ""})
    settled(browser, 30).until(ready.presence_of_element_located(upload_row("empty.txt", "done")))
    settled(browser).until(ready.presence_of_element_located(row("dropped.txt")))
    assert workspace_file(server, http, "dropped.txt").content == b"dropped bytes\n"
    empty = workspace_file(server, http, "empty.txt")
    assert (empty.status_code, empty.content) == (200, b"")

    # The file input: 20 MiB go in three resumable chunks, and the bar reaches 100 %.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    browser.find_element(By.ID, "file-input").send_keys(str(big))
    done = settled(browser, 120).until(ready.presence_of_element_located(upload_row("big.bin", "done")))
    assert done.find_element(By.TAG_NAME, "progress").get_attribute("value") == "100"
    assert "100 %" in done.find_element(By.CSS_SELECTOR, ".upload-state").text
    settled(browser).until(ready.presence_of_element_located(row("big.bin")))
    copy = workspace_file(server, http, "big.bin")
    assert copy.status_code == 200
    assert hashlib.sha256(copy.content).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()

    # The same name again: the page asks, and "Keep both" saves it under the next free name.
    drop(browser, "#drop-zone", {"dropped.txt": "second copy\n"})
    asked = settled(browser, 30).until(ready.presence_of_element_located(upload_row("dropped.txt", "failed")))
    assert "exists" in asked.text
    asked.find_element(By.CSS_SELECTOR, "[data-action=keep-both]").click()
    settled(browser, 30).until(ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#uploads li:last-child"), "dropped (2).txt"))
    settled(browser).until(ready.presence_of_element_located(row("dropped (2).txt")))
    assert workspace_file(server, http, "dropped (2).txt").content == b"second copy\n"
    assert workspace_file(server, http, "dropped.txt").content == b"dropped bytes\n"

    # A new folder.
    browser.find_element(By.ID, "new-folder-button").click()
    browser.find_element(By.ID, "new-folder-name").send_keys("Reports")
    browser.find_element(By.CSS_SELECTOR, "#new-folder button[type=submit]").click()
    settled(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, "#entries tr[data-path='Reports'][data-kind='directory']")))
    assert [item["kind"] for item in listing(server, http, "") if item["name"] == "Reports"] == ["directory"]

    # Rename.
    browser.find_element(*row("dropped.txt")).find_element(By.CSS_SELECTOR, "[data-action=rename]").click()
    name = settled(browser).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#entries .rename-form input")))
    name.send_keys(Keys.CONTROL, "a")
    name.send_keys("renamed.txt", Keys.ENTER)
    settled(browser).until(ready.presence_of_element_located(row("renamed.txt")))
    assert not browser.find_elements(*row("dropped.txt"))
    assert workspace_file(server, http, "renamed.txt").content == b"dropped bytes\n"
    assert workspace_file(server, http, "dropped.txt").status_code == 404

    # Delete moves the file into .trash, and Undo brings it back.
    browser.find_element(*row("renamed.txt")).find_element(By.CSS_SELECTOR, "[data-action=delete]").click()
    settled(browser).until(ready.invisibility_of_element_located(row("renamed.txt")))
    notice = settled(browser).until(ready.visibility_of_element_located((By.CSS_SELECTOR, "#files .notice")))
    assert ".trash" in notice.text
    assert workspace_file(server, http, "renamed.txt").status_code == 404
    assert any(item["name"].startswith("renamed") for item in listing(server, http, ".trash"))
    browser.find_element(By.ID, "undo").click()
    settled(browser).until(ready.presence_of_element_located(row("renamed.txt")))
    assert workspace_file(server, http, "renamed.txt").content == b"dropped bytes\n"

    # A download is a plain link to the API.
    link = browser.find_element(*row("renamed.txt")).find_element(By.CSS_SELECTOR, "[data-action=download]")
    assert link.get_attribute("href") == f"{server.url}/api/v1/workspace/files?path=renamed.txt"
    assert link.get_attribute("download") == "renamed.txt"
    assert http.get(link.get_attribute("href"), timeout=30).content == b"dropped bytes\n"

    # Into a folder, a drop there, and back home by the crumbs.
    browser.find_element(*row("Reports")).find_element(By.LINK_TEXT, "Reports/").click()
    settled(browser).until(ready.url_contains("path=Reports"))
    settled(browser).until(ready.visibility_of_element_located((By.ID, "entries-empty")))
    assert browser.find_element(By.ID, "crumbs").text == "Home / Reports"
    drop(browser, "#drop-zone", {"inner.txt": "inside\n"})
    settled(browser, 30).until(ready.presence_of_element_located(row("Reports/inner.txt")))
    assert workspace_file(server, http, "Reports/inner.txt").content == b"inside\n"
    browser.find_element(By.ID, "crumbs").find_element(By.LINK_TEXT, "Home").click()
    folder_link = settled(browser).until(ready.presence_of_element_located(row("Reports"))).find_element(
        By.CSS_SELECTOR, "[data-action=download]"
    )
    assert "format=zip" in folder_link.get_attribute("href")
    archive = zipfile.ZipFile(io.BytesIO(http.get(folder_link.get_attribute("href"), timeout=30).content))
    assert any(name.endswith("inner.txt") for name in archive.namelist()), archive.namelist()
    browser.save_screenshot(str(artifacts / "files-page.png"))

    # A long folder comes in pages: "Load more" until every entry is shown.
    expected = len(listing(server, http, ""))
    open_files(browser, server, "?limit=2")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr")) == 2
    while browser.find_element(By.ID, "load-more").is_displayed():
        shown = len(browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr"))
        browser.find_element(By.ID, "load-more").click()
        settled(browser).until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#entries tbody tr")) > shown)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#entries tbody tr")) == expected


def test_an_upload_goes_on_where_it_stopped_after_the_link_drops(server: Server, browser, tmp_path):
    http = ann(server)
    relay = Relay(int(server.url.rsplit(":", 1)[1]))
    try:
        sign_in(browser, server, EMAIL, PASSWORD, base_url=relay.url)
        settled(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Your sessions"))
        open_files(browser, relay)
        # 3 MiB/s: the first 8 MiB chunk is through, the second on its way, when the link dies.
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 3 * 2**20}
        )
        big = tmp_path / "through a cut.bin"
        big.write_bytes(os.urandom(24 * 1024 * 1024))
        browser.find_element(By.ID, "file-input").send_keys(str(big))
        upload = (By.CSS_SELECTOR, "#uploads li[data-name='through a cut.bin']")
        settled(browser, 60).until(lambda driver: int(driver.find_element(*upload).find_element(By.TAG_NAME, "progress").get_attribute("value")) >= 45)

        relay.cut()
        time.sleep(4)  # several retries fail while the link is down: the upload waits, it does not fail
        assert browser.find_element(*upload).get_attribute("data-state") == "sending"
        relay.restore()
        settled(browser, 120).until(ready.presence_of_element_located(upload_row("through a cut.bin", "done")))
        copy = workspace_file(server, http, "through a cut.bin")
        assert hashlib.sha256(copy.content).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    finally:
        relay.close()


# Feeds the terminal an OSC 52 query as if it came from the session, and collects what the viewer
# would send back to the session in the next half second.
QUERY = """
const done = arguments[0];
const term = window.holdfastViewer.term;
const sent = [];
const listening = term.onData((data) => sent.push(data));
term.write("\\x1b]52;c;?\\x07", () => setTimeout(() => { listening.dispose(); done(sent); }, 500));
"""


def clipboard(browser) -> str:
    return browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (error) => done('refused: ' + error));"
    )


def set_clipboard(browser, text: str) -> None:
    browser.execute_async_script("const [text, done] = arguments; navigator.clipboard.writeText(text).then(() => done(), done);", text)


def type_in_terminal(browser, text: str) -> None:
    browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(text)


def test_files_dropped_onto_the_terminal_and_its_clipboard(server: Server, browser, artifacts):
    http = ann(server)
    sign_in(browser, server, EMAIL, PASSWORD)
    settled(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=new-session][data-kind=terminal]"))).click()
    settled(browser, 20).until(ready.url_contains("/sessions/"))
    wait_for_screen(browser, "user@holdfast")
    settled(browser, 10).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
    origin = server.url
    browser.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"], "origin": origin})

    # A file dropped onto the terminal is saved in the home folder; the second under a free name.
    toasts = (By.CSS_SELECTOR, "#toasts .toast")
    drop(browser, "#terminal", {"notes.txt": "from the browser\n"})
    settled(browser, 30).until(ready.text_to_be_present_in_element(toasts, "Saved notes.txt in your home folder"))
    assert browser.find_element(*toasts).get_attribute("role") == "status"
    assert workspace_file(server, http, "notes.txt").content == b"from the browser\n"
    drop(browser, "#terminal", {"notes.txt": "once more\n"})
    settled(browser, 30).until(
        lambda driver: any("Saved notes (2).txt in your home folder" in toast.text for toast in driver.find_elements(*toasts))
    )
    assert workspace_file(server, http, "notes (2).txt").content == b"once more\n"
    browser.save_screenshot(str(artifacts / "viewer-file-dropped.png"))
    # The shell sees it where it was saved.
    type_in_terminal(browser, "cat ~/'notes (2).txt' | tr a-z A-Z\n")
    wait_for_screen(browser, "ONCE MORE")

    # OSC 52 from a program: asked once, then remembered.
    set_clipboard(browser, "before")
    type_in_terminal(browser, "printf '\\033]52;c;%s\\a' \"$(printf 'copied by osc 52' | base64)\"\n")
    ask = settled(browser, 10).until(ready.visibility_of_element_located((By.ID, "clipboard-ask")))
    assert "wants to copy to your clipboard" in ask.text
    assert clipboard(browser) == "before"
    ask.find_element(By.CSS_SELECTOR, "[data-choice=allow]").click()
    settled(browser, 5).until(lambda driver: clipboard(driver) == "copied by osc 52")
    assert browser.execute_script("return localStorage.getItem('holdfast.osc52')") == "allow"
    type_in_terminal(browser, "printf '\\033]52;c;%s\\a' \"$(printf 'second, unasked' | base64)\"\n")
    settled(browser, 5).until(lambda driver: clipboard(driver) == "second, unasked")
    assert not browser.find_element(By.ID, "clipboard-ask").is_displayed()
    # A program asking to read the clipboard gets no answer from the browser. (tmux, in between, may
    # answer with its own buffer, which holds only what programs in the session copied.)
    answered = browser.execute_async_script(QUERY)
    assert answered == [], f"the viewer answered a clipboard query with {answered!r}"
    assert not browser.find_element(By.ID, "clipboard-ask").is_displayed()

    # Selecting copies nothing by itself; Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes.
    type_in_terminal(browser, "clear; echo select-$((20+3))\n")
    wait_for_screen(browser, "select-23")
    set_clipboard(browser, "untouched")
    browser.execute_script("window.holdfastViewer.term.selectAll()")
    assert clipboard(browser) == "untouched"
    terminal = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys_to_element(terminal, "c").key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    settled(browser, 5).until(lambda driver: "select-23" in clipboard(driver))
    set_clipboard(browser, "echo pasted-$((6*7))")
    ActionChains(browser).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys_to_element(terminal, "v").key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    type_in_terminal(browser, "\n")
    wait_for_screen(browser, "pasted-42")

    # A name that is not UTF-8 is listed, greyed, without actions.
    type_in_terminal(browser, "touch $'bad\\xffname'; echo touched-$((1+1))\n")
    wait_for_screen(browser, "touched-2")
    open_files(browser, server)
    invalid = settled(browser).until(ready.presence_of_element_located((By.CSS_SELECTOR, "#entries tr.invalid-name")))
    assert not invalid.find_elements(By.CSS_SELECTOR, "button, a")
    assert browser.find_elements(*row("notes (2).txt"))


def test_a_file_dropped_onto_the_desktop_lands_in_the_home_folder(server: Server, browser):
    http = ann(server)
    sign_in(browser, server, EMAIL, PASSWORD)
    settled(browser).until(ready.element_to_be_clickable((By.CSS_SELECTOR, "[data-action=new-session][data-kind=desktop]"))).click()
    settled(browser, 30).until(ready.url_contains("/sessions/"))
    settled(browser, 20).until(ready.text_to_be_present_in_element((By.ID, "status-text"), "Connected"))
    drop(browser, "#desktop", {"on the desktop.txt": "desktop drop\n"})
    settled(browser, 30).until(
        ready.text_to_be_present_in_element((By.CSS_SELECTOR, "#toasts .toast"), "Saved on the desktop.txt in your home folder")
    )
    assert workspace_file(server, http, "on the desktop.txt").content == b"desktop drop\n"
