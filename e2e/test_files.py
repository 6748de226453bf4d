"""Files in and out of a workspace through the API, against the real binary: resumable tus uploads
cut by a TCP relay, the quota, folders streamed as archives, ranged downloads resumed after a cut,
and paths that try to leave the workspace."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest
import requests

from conftest import Server, start_server
from test_backups import snapshots, wipe_workspace, workspace_of
from test_sessions import member

TUS = {"Tus-Resumable": "1.0.0"}
MIB = 1 << 20


def api(server: Server) -> str:
    return f"{server.url}/api/v1/workspace"


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def create_upload(server: Server, http: requests.Session, path: str, length: int, base: str | None = None, **extra: str):
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(path=path, **extra)}
    return http.post(f"{base or server.url}/api/v1/workspace/uploads", headers=headers, timeout=30)


def patch(http: requests.Session, url: str, offset: int, body, timeout: float = 60) -> requests.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    return http.patch(url, headers=headers, data=body, timeout=timeout)


def offset_of(http: requests.Session, url: str) -> int:
    response = http.head(url, headers=TUS, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return int(response.headers["Upload-Offset"])


def file_chunks(path: Path, start: int, size: int = MIB):
    with path.open("rb") as source:
        source.seek(start)
        while chunk := source.read(size):
            yield chunk


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in file_chunks(path, 0, 8 * MIB):
        digest.update(chunk)
    return digest.hexdigest()


class CuttingRelay:
    """A TCP relay that resets every connection through it when the bytes sent toward the server
    cross each of `cut_at` (a Wi-Fi link dying mid-upload), and lets the next connection through."""

    def __init__(self, target_port: int, cut_at: list[int]):
        self.target = ("127.0.0.1", target_port)
        self.cut_at = sorted(cut_at)
        self.sent = 0
        self.cuts = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            pair = (client, upstream)
            self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, toward_server: bool) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
            if toward_server:
                with self.lock:
                    self.sent += len(data)
                    due = self.cuts < len(self.cut_at) and self.sent >= self.cut_at[self.cuts]
                    if due:
                        self.cuts += 1
                if due:
                    self._reset(source, sink)
                    return

    @staticmethod
    def _reset(*sockets: socket.socket) -> None:
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                # shutdown wakes a pump thread blocked in recv on it; a bare close would not reset it.
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def test_a_200_mb_upload_cut_three_times_resumes_to_the_same_sha256(server: Server, tmp_path: Path):
    http = member(server)
    source = tmp_path / "dataset.bin"
    with source.open("wb") as out:
        for _ in range(200):
            out.write(os.urandom(MIB))
    relay = CuttingRelay(int(server.url.rsplit(":", 1)[1]), cut_at=[50 * MIB, 100 * MIB, 150 * MIB])
    try:
        created = create_upload(server, http, "data/dataset.bin", source.stat().st_size, base=relay.url)
        assert created.status_code == 201, created.text
        assert created.headers["Tus-Resumable"] == "1.0.0" and created.headers.get("Upload-Expires")
        url = relay.url + created.headers["Location"]
        offsets = []
        for _attempt in range(10):
            offset = offset_of(http, url)
            offsets.append(offset)
            try:
                response = patch(http, url, offset, file_chunks(source, offset))
            except requests.ConnectionError:
                continue  # the link died: ask where the upload got to, and go on from there
            assert response.status_code == 204, response.text
            assert int(response.headers["Upload-Offset"]) == source.stat().st_size
            break
        else:
            raise AssertionError(f"the upload never finished; offsets seen: {offsets}")
    finally:
        relay.close()
    assert relay.cuts == 3, "the relay did not cut the upload three times"
    assert len(offsets) == 4 and offsets[0] == 0 and offsets == sorted(offsets) and offsets[-1] > 100 * MIB, offsets

    workspace = workspace_of(server, http)
    landed = workspace / "data" / "dataset.bin"
    assert sha256(landed) == sha256(source)
    # The user's file, as if the user had written it; nothing left behind in the uploads folder.
    assert landed.stat().st_uid == workspace.stat().st_uid != 0
    assert not list(server.data_dir.glob("volumes/*/*.mnt/staging/uploads/*.part"))
    downloaded = hashlib.sha256()
    with http.get(f"{api(server)}/files", params={"path": "data/dataset.bin"}, stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Accept-Ranges"] == "bytes"
        for chunk in response.iter_content(MIB):
            downloaded.update(chunk)
    assert downloaded.hexdigest() == sha256(source)


def test_a_resumed_upload_takes_over_from_a_connection_that_went_silent(server: Server):
    """Wi-Fi that dies without a reset: the server still waits on the old request when the client
    resumes on a new connection. The new one takes over; the old one's late bytes change nothing."""
    http = member(server)
    body = os.urandom(4 * MIB)
    created = create_upload(server, http, "silent.bin", len(body))
    url = server.url + created.headers["Location"]
    port = int(server.url.rsplit(":", 1)[1])
    stale = socket.create_connection(("127.0.0.1", port))
    head = (
        f"PATCH {created.headers['Location']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {http.headers['Authorization']}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    stale.sendall(head + body[: 2 * MIB])
    # Watched on disk: asking the server (HEAD) would itself take the upload over.
    (part,) = server.data_dir.glob(f"volumes/*/*.mnt/staging/uploads/{created.headers['Location'].rsplit('/', 1)[1]}.part")
    deadline = time.monotonic() + 10
    while part.stat().st_size < MIB and time.monotonic() < deadline:
        time.sleep(0.05)
    offset = offset_of(http, url)
    assert 0 < offset <= 2 * MIB
    response = patch(http, url, offset, body[offset:])
    assert response.status_code == 204, response.text
    # The silent connection comes back to life and sends different bytes for the same range.
    try:
        stale.sendall(b"\xff" * (len(body) - 2 * MIB))
    except OSError:
        pass
    stale.close()
    time.sleep(0.5)
    assert (workspace_of(server, http) / "silent.bin").read_bytes() == body


def test_an_upload_larger_than_the_quota_is_refused_before_a_byte_is_written(server: Server):
    http = member(server)
    changed = server.operator().patch(f"{server.url}/api/v1/tenants/acme", json={"limits": {"diskGiB": 1}}, timeout=30)
    assert changed.status_code == 200, changed.text
    ready_workspace(server, http)
    usage = http.get(f"{api(server)}/usage", timeout=60).json()
    assert usage["quotaGiB"] == 1 and usage["quotaBytes"] <= 1 << 30, usage

    refused = create_upload(server, http, "huge.iso", 2 << 30)
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and "left" in error["message"], error

    # A plain PUT that declares 2 GiB is answered before its body is sent.
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"PUT /api/v1/workspace/files?path=huge.iso HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: {http.headers['Authorization']}\r\nContent-Length: {2 << 30}\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "quota_exceeded" in answer
    assert http.get(f"{api(server)}/usage", timeout=10).json()["usedBytes"] < 64 * MIB
    workspace = workspace_of(server, http)
    assert not (workspace / "huge.iso").exists()
    assert not list(server.data_dir.glob("volumes/*/*.mnt/staging/uploads/*.part"))


def ready_workspace(server: Server, http: requests.Session) -> Path:
    """The caller's workspace folder, made ready by a first call of the files API (mounted, restored)."""
    listing = http.get(f"{api(server)}/files", params={"path": "", "list": "1"}, timeout=60)
    assert listing.status_code == 200, listing.text
    return workspace_of(server, http)


def put(server: Server, http: requests.Session, path: str, body: bytes, **params: str) -> requests.Response:
    return http.put(f"{api(server)}/files", params={"path": path, **params}, data=body, timeout=30)


def test_a_folder_downloads_as_a_streamed_zip_and_tar_gz_matching_the_workspace(server: Server):
    http = member(server)
    files = {
        "project/README.md": b"# Notes\n",
        "project/src/main.c": os.urandom(300_000),
        "project/src/empty.txt": b"",
        "project/données/résumé.txt": "Ünïcødé ✓".encode(),
        "project/" + "long-" * 30 + "name.txt": b"a name longer than 100 bytes",
    }
    for path, body in files.items():
        response = put(server, http, path, body)
        assert response.status_code == 201, response.text
    workspace = workspace_of(server, http)
    os.symlink("README.md", workspace / "project" / "link-to-readme")
    os.mkfifo(workspace / "project" / "a-fifo")  # nothing a download could hold: left out, never blocks

    response = http.get(f"{api(server)}/files", params={"path": "project"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/zip"
    assert "project.zip" in response.headers["Content-Disposition"]
    assert "Content-Length" not in response.headers  # streamed, not staged
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    names = set(archive.namelist())
    for path, body in files.items():
        assert archive.read(path) == body
    assert "project/src/" in names and "project/a-fifo" not in names
    link = archive.getinfo("project/link-to-readme")
    assert (link.external_attr >> 16) & 0o170000 == 0o120000 and archive.read(link) == b"README.md"
    on_disk = {
        str(Path(root, name).relative_to(workspace))
        for root, folders, names_ in os.walk(workspace / "project")
        for name in names_
        if not Path(root, name).is_fifo()
    }
    assert on_disk == {name for name in names if not name.endswith("/")}

    response = http.get(f"{api(server)}/files", params={"path": "project", "format": "tar.gz"}, timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        for path, body in files.items():
            assert tar.extractfile(path).read() == body
        assert tar.getmember("project/link-to-readme").issym()
        assert tar.getmember("project/link-to-readme").linkname == "README.md"
        assert tar.getmember("project/src").isdir()


def test_a_ranged_download_resumes_after_a_cut(server: Server):
    http = member(server)
    body = os.urandom(24 * MIB)
    assert put(server, http, "video.mp4", body).status_code == 201
    relay = CuttingRelay(int(server.url.rsplit(":", 1)[1]), cut_at=[])
    received = bytearray()
    try:
        with http.get(f"{relay.url}/api/v1/workspace/files", params={"path": "video.mp4"}, stream=True, timeout=30) as response:
            assert response.status_code == 200
            etag = response.headers["ETag"]
            for chunk in response.iter_content(256 * 1024):
                received += chunk
                if len(received) >= 5 * MIB:
                    for pair in relay.pairs:
                        CuttingRelay._reset(*pair)  # the link dies mid-download
                    break
    except requests.RequestException:
        pass
    finally:
        relay.close()
    assert 5 * MIB <= len(received) < len(body)
    rest = http.get(
        f"{api(server)}/files",
        params={"path": "video.mp4"},
        headers={"Range": f"bytes={len(received)}-", "If-Range": etag},
        timeout=30,
    )
    assert rest.status_code == 206, rest.text
    assert rest.headers["Content-Range"] == f"bytes {len(received)}-{len(body) - 1}/{len(body)}"
    assert bytes(received) + rest.content == body
    # A range past the end is refused; a stale If-Range gets the whole (new) file instead.
    beyond = http.get(f"{api(server)}/files", params={"path": "video.mp4"}, headers={"Range": f"bytes={len(body)}-"}, timeout=30)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(body)}"
    stale = http.get(
        f"{api(server)}/files", params={"path": "video.mp4"}, headers={"Range": "bytes=10-", "If-Range": '"old"'}, timeout=30
    )
    assert stale.status_code == 200 and len(stale.content) == len(body)


@pytest.mark.parametrize(
    "path, status",
    [("../etc/passwd", 422), ("/etc/passwd", 422), ("a\x00b", 422), ("docs/../../x", 422), ("escape/passwd", 403)],
)
def test_paths_that_leave_the_workspace_are_refused(server: Server, path: str, status: int):
    http = member(server)
    assert put(server, http, "docs/a.txt", b"x").status_code == 201
    os.symlink("/etc", workspace_of(server, http) / "escape")
    for attempt in (
        http.get(f"{api(server)}/files", params={"path": path}, timeout=10),
        http.get(f"{api(server)}/files", params={"path": path, "list": "1"}, timeout=10),
        put(server, http, path + "-new", b"owned"),
        create_upload(server, http, path + "-new", 5),
        http.post(f"{api(server)}/folders", json={"path": path + "-dir"}, timeout=10),
        http.post(f"{api(server)}/moves", json={"from": "docs/a.txt", "to": path + "-moved"}, timeout=10),
        http.delete(f"{api(server)}/files", params={"path": path}, timeout=10),
    ):
        assert attempt.status_code == status, (attempt.request.method, attempt.status_code, attempt.text)
        assert attempt.json()["error"]["code"]
    for written in ("/etc/passwd-new", "/etc/passwd-dir", "/etc/passwd-moved", "/x-new"):
        assert not os.path.exists(written), f"{written} was written outside the workspace"


def test_links_planted_in_the_workspace_are_not_followed_out(server: Server):
    http = member(server)
    workspace = ready_workspace(server, http)
    outside = Path(f"/tmp/holdfast-outside-{os.getpid()}")
    outside.mkdir(exist_ok=True)
    (outside / "secret").write_text("the host's")
    try:
        os.symlink(outside / "secret", workspace / "trap")
        # Overwriting a link that leads out is refused; nothing is written through it.
        refused = put(server, http, "trap", b"mine", overwrite="true")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "outside_workspace", refused.text
        assert (outside / "secret").read_text() == "the host's"
        assert (workspace / "trap").is_symlink()
        # A trash that is a link out of the workspace is refused, not written through.
        os.symlink(outside, workspace / ".trash")
        assert put(server, http, "doomed.txt", b"x").status_code == 201
        refused = http.delete(f"{api(server)}/files", params={"path": "doomed.txt"}, timeout=10)
        assert refused.status_code == 409, refused.text
        assert sorted(os.listdir(outside)) == ["secret"]
        # A folder swapped for a link out is refused for listing and archives.
        os.symlink(outside, workspace / "swapped")
        for params in ({"path": "swapped", "list": "1"}, {"path": "swapped"}, {"path": "swapped/secret"}):
            response = http.get(f"{api(server)}/files", params=params, timeout=10)
            assert response.status_code == 403, (params, response.text)
    finally:
        for item in outside.iterdir():
            item.unlink()
        outside.rmdir()


def test_another_users_files_cannot_be_reached(server: Server):
    ann = member(server)
    bob = member(server, email="bob@acme.test")
    assert put(server, ann, "private/diary.txt", b"dear diary").status_code == 201
    ann_workspace = workspace_of(server, ann)
    assert bob.get(f"{api(server)}/files", params={"path": "private/diary.txt"}, timeout=10).status_code == 404
    listing = bob.get(f"{api(server)}/files", params={"path": "", "list": "1"}, timeout=10).json()
    assert listing["items"] == []
    # Bob cannot name Ann's upload either.
    created = create_upload(server, ann, "later.bin", 10)
    location = created.headers["Location"]
    assert bob.head(server.url + location, headers=TUS, timeout=10).status_code == 404
    assert patch(bob, server.url + location, 0, b"0123456789").status_code == 404
    assert bob.delete(server.url + location, headers=TUS, timeout=10).status_code == 404
    assert offset_of(ann, server.url + location) == 0
    assert (ann_workspace / "private" / "diary.txt").read_bytes() == b"dear diary"
    anonymous = requests.get(f"{api(server)}/files", params={"path": "private/diary.txt"}, timeout=10)
    assert anonymous.status_code == 401


def test_bad_upload_requests_get_clear_errors(server: Server):
    http = member(server)
    created = create_upload(server, http, "notes.txt", 10)
    url = server.url + created.headers["Location"]
    assert patch(http, url, 0, b"01234").status_code == 204
    wrong = patch(http, url, 0, b"01234")
    assert wrong.status_code == 409 and wrong.headers["Upload-Offset"] == "5", wrong.text
    assert wrong.json()["error"]["code"] == "upload_offset_mismatch"
    too_long = patch(http, url, 5, b"0123456789")
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "chunk_too_large"
    assert offset_of(http, url) == 5
    no_version = http.patch(url, headers={"Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"}, data=b"5", timeout=10)
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    wrong_type = http.patch(url, headers={**TUS, "Upload-Offset": "5"}, data=b"5", timeout=10)
    assert wrong_type.status_code == 415
    assert patch(http, url, 5, b"56789").status_code == 204
    assert http.get(f"{api(server)}/files", params={"path": "notes.txt"}, timeout=10).content == b"0123456789"
    assert http.head(url, headers=TUS, timeout=10).status_code == 404  # finished: gone

    # Replacing needs overwrite, at creation as at the end.
    assert create_upload(server, http, "notes.txt", 3).status_code == 409
    assert create_upload(server, http, "notes.txt", 3, overwrite="true").status_code == 201
    assert put(server, http, "notes.txt", b"new").status_code == 409
    assert put(server, http, "notes.txt", b"new", overwrite="true").status_code == 201
    assert http.post(f"{server.url}/api/v1/workspace/uploads", headers=TUS, timeout=10).status_code == 422
    for name in ("line\nbreak.txt", "tab\there", "x" * 256):
        refused = put(server, http, name, b"x")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_name", (name, refused.text)
    options = http.options(f"{server.url}/api/v1/workspace/uploads", timeout=10)
    assert options.status_code == 204 and "creation" in options.headers["Tus-Extension"]


def test_an_unfinished_upload_is_removed_after_a_day(server: Server):
    http = member(server)
    created = create_upload(server, http, "abandoned.bin", 1000)
    url = server.url + created.headers["Location"]
    assert patch(http, url, 0, b"x" * 100).status_code == 204
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    (part,) = server.data_dir.glob(f"volumes/*/*.mnt/staging/uploads/{upload_id}.part")
    day_ago = time.time() - 25 * 3600
    os.utime(part, (day_ago, day_ago))
    assert create_upload(server, http, "another.bin", 10).status_code == 201  # the sweep runs here
    assert http.head(url, headers=TUS, timeout=10).status_code == 404
    assert not part.exists()


def test_a_folder_of_10000_files_lists_in_pages(server: Server):
    http = member(server)
    assert http.post(f"{api(server)}/folders", json={"path": "many"}, timeout=60).status_code == 201
    folder = workspace_of(server, http) / "many"
    for index in range(10_000):
        (folder / f"file-{index:05d}.txt").touch()
    # A name that is not UTF-8 and one with a line break, made inside the session: shown, escaped.
    os.close(os.open(bytes(folder) + b"/bad-\xff-name", os.O_CREAT | os.O_WRONLY))
    (folder / "line\nbreak").touch()
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"path": "many", "list": "1", "limit": "2000"} | ({"cursor": cursor} if cursor else {})
        page = http.get(f"{api(server)}/files", params=params, timeout=30)
        assert page.status_code == 200, page.text
        body = page.json()
        names += [item["name"] for item in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert pages == 6 and len(names) == len(set(names)) == 10_002
    invalid = [item for item in http.get(f"{api(server)}/files", params={"path": "many", "list": "1", "limit": "1"}, timeout=30).json()["items"]]
    assert invalid[0]["nameIsValid"] is False and invalid[0]["path"] is None and "\ufffd" in invalid[0]["name"]
    assert "line\nbreak" in names


def test_files_work_without_a_session_restored_first_and_backed_up(binary, data_dir: Path):
    server = start_server(binary, data_dir, extra=("--snapshot-interval", "10s"))
    try:
        http = member(server)
        assert put(server, http, "thesis/chapter1.md", b"It was a dark and stormy night.").status_code == 201
        deadline = time.monotonic() + 60
        while not snapshots(server, http) and time.monotonic() < deadline:
            time.sleep(1)
        assert snapshots(server, http), "a change through the files API was never snapshotted"
        assert not http.get(f"{server.url}/api/v1/sessions", timeout=10).json()["items"]
    finally:
        server.stop()
    # A new host (or a cleaned disk): no copy of the workspace here.
    server = start_server(binary, data_dir)
    try:
        http = server.login("ann@acme.test", "correct horse")
        wipe_workspace(server, http)
        response = http.get(f"{api(server)}/files", params={"path": "thesis/chapter1.md"}, timeout=120)
        assert response.status_code == 200, response.text
        assert response.content == b"It was a dark and stormy night."
    finally:
        server.stop()


def test_a_client_that_expects_100_continue_is_not_kept_waiting(server: Server):
    """curl sends `Expect: 100-continue` before a large body and waits for the interim answer."""
    http = member(server)
    ready_workspace(server, http)
    port = int(server.url.rsplit(":", 1)[1])
    body = os.urandom(2 * MIB)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"PUT /api/v1/workspace/files?path=expected.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: {http.headers['Authorization']}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        sock.settimeout(0.5)  # curl waits 1 s before it sends anyway
        interim = sock.recv(4096).decode(errors="replace")
        assert interim.startswith("HTTP/1.1 100 Continue"), interim
        sock.settimeout(30)
        sock.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert (workspace_of(server, http) / "expected.bin").read_bytes() == body
