"""The walking skeleton end to end: the real binary, its CLI, and HTTP clients."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import requests
import yaml

from conftest import Server, start_server


def create_two_tenants(server: Server) -> None:
    """Tenants and users made through the CLI while the server runs, as an operator would."""
    server.cli("admin", "create-tenant", "--name", "Acme Research", "--slug", "acme", "--time-zone", "America/New_York")
    server.cli("admin", "create-tenant", "--name", "Globex", "--slug", "globex")
    for tenant, email, role in [
        ("acme", "admin@acme.test", "tenant-admin"),
        ("acme", "ann@acme.test", "member"),
        ("globex", "admin@globex.test", "tenant-admin"),
    ]:
        server.cli("admin", "create-user", "--tenant", tenant, "--email", email, "--password", "correct horse", "--role", role)


def assert_error(response: requests.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body


def test_first_start_prints_operator_credentials_once(binary, data_dir):
    first = start_server(binary, data_dir)
    try:
        assert first.operator_email == "admin@holdfast.local"
        assert len(first.operator_password) >= 16
        me = first.operator().get(f"{first.url}/api/v1/auth/me", timeout=10)
        assert me.json()["user"]["role"] == "operator"
    finally:
        assert first.stop() == 0
    second = start_server(binary, data_dir)
    try:
        assert second.operator_password == ""
        assert not any("password:" in line for line in second.output)
        second.operator_email, second.operator_password = first.operator_email, first.operator_password
        assert second.operator().get(f"{second.url}/api/v1/auth/me", timeout=10).status_code == 200
    finally:
        second.stop()
    database = sqlite3.connect(data_dir / "holdfast.sqlite")
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = database.execute("SELECT password_hash FROM users WHERE email = 'admin@holdfast.local'").fetchone()[0]
    assert stored.startswith("$2") and first.operator_password not in stored


def test_cli_works_beside_the_running_server_and_login_follows(server: Server):
    create_two_tenants(server)
    ann = server.login("ann@acme.test", "correct horse")
    me = ann.get(f"{server.url}/api/v1/auth/me", timeout=10).json()
    assert me["user"]["role"] == "member"
    assert me["tenant"]["slug"] == "acme"
    assert me["tenant"]["timeZone"] == "America/New_York"


def test_cli_refuses_bad_input_with_a_clear_message(server: Server):
    server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme")
    again = server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "acme", check=False)
    assert again.returncode != 0 and "already taken" in again.stderr
    bad_slug = server.cli("admin", "create-tenant", "--name", "Acme", "--slug", "Bad Slug", check=False)
    assert bad_slug.returncode != 0 and "slug" in bad_slug.stderr
    no_tenant = server.cli("admin", "create-user", "--tenant", "nope", "--email", "a@b.test", "--password", "0123456789", "--role", "member", check=False)
    assert no_tenant.returncode != 0 and "create-tenant" in no_tenant.stderr
    bad_role = server.cli("admin", "create-user", "--tenant", "acme", "--email", "a@b.test", "--password", "0123456789", "--role", "king", check=False)
    assert bad_role.returncode != 0 and "tenant-admin" in bad_role.stderr
    op = server.operator()
    users = op.get(f"{server.url}/api/v1/tenants/acme/users", timeout=10).json()["items"]
    assert users == []


def test_login_cookie_and_logout(server: Server):
    login = requests.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": server.operator_email, "password": server.operator_password},
        timeout=10,
    )
    assert login.status_code == 200
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "holdfast_session=" in cookie
    browser = requests.Session()
    browser.cookies.set("holdfast_session", login.cookies["holdfast_session"])
    home = browser.get(f"{server.url}/", timeout=10, allow_redirects=False)
    assert home.status_code == 200 and "Your sessions" in home.text
    # A cookie write from no page at all (no Origin, no Sec-Fetch-Site) is refused; from ours it works.
    assert_error(browser.post(f"{server.url}/api/v1/auth/logout", timeout=10), 403, "origin_required")
    assert browser.post(f"{server.url}/api/v1/auth/logout", headers={"Origin": server.url}, timeout=10).status_code == 204
    after = browser.get(f"{server.url}/", timeout=10, allow_redirects=False)
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")
    token = login.json()["token"]
    assert_error(requests.get(f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10), 401, "invalid_token")


def test_bad_logins_are_refused_then_rate_limited(server: Server):
    for attempt in range(5):
        response = requests.post(f"{server.url}/api/v1/auth/login", json={"email": server.operator_email, "password": f"wrong-{attempt}"}, timeout=10)
        assert_error(response, 401, "invalid_credentials")
    locked = requests.post(f"{server.url}/api/v1/auth/login", json={"email": server.operator_email, "password": server.operator_password}, timeout=10)
    assert_error(locked, 429, "too_many_attempts")
    assert "try again in" in locked.json()["error"]["message"]


def test_forged_tokens_and_bad_bodies(server: Server):
    forged = "Bearer " + uuid.uuid4().hex
    assert_error(requests.get(f"{server.url}/api/v1/tenants", headers={"Authorization": forged}, timeout=10), 401, "invalid_token")
    op = server.operator()
    url = f"{server.url}/api/v1/tenants"
    assert_error(op.post(url, data="{not json", headers={"Content-Type": "application/json"}, timeout=10), 400, "invalid_json")
    assert_error(op.post(url, json={"name": "No slug"}, timeout=10), 400, "invalid_json")
    assert_error(op.post(url, data="name=x&slug=y", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10), 415)
    assert_error(op.post(url, json={"name": "x" * 100_000, "slug": "big"}, timeout=10), 413)
    assert_error(op.get(f"{server.url}/api/v1/no-such-thing", timeout=10), 404, "not_found")
    wrong_method = op.delete(f"{server.url}/api/v1/auth/login", timeout=10)
    assert wrong_method.status_code in (404, 405)
    assert wrong_method.json()["error"]["code"]
    slugs = [tenant["slug"] for tenant in op.get(url, timeout=10).json()["items"]]
    assert slugs == ["operations"]


def test_tenant_admins_are_isolated(server: Server):
    create_two_tenants(server)
    acme_admin = server.login("admin@acme.test", "correct horse")
    globex_admin = server.login("admin@globex.test", "correct horse")
    ann = server.login("ann@acme.test", "correct horse")

    assert_error(acme_admin.get(f"{server.url}/api/v1/tenants/globex/users", timeout=10), 404)
    assert_error(
        acme_admin.post(f"{server.url}/api/v1/tenants/globex/users", json={"email": "mole@acme.test", "password": "correct horse", "role": "tenant-admin"}, timeout=10),
        404,
    )
    assert [t["slug"] for t in acme_admin.get(f"{server.url}/api/v1/tenants", timeout=10).json()["items"]] == ["acme"]
    assert_error(ann.get(f"{server.url}/api/v1/tenants/acme/users", timeout=10), 403, "forbidden")

    created = acme_admin.post(f"{server.url}/api/v1/tenants/acme/users", json={"email": "bo@acme.test", "password": "correct horse", "role": "member"}, timeout=10)
    assert created.status_code == 201, created.text
    globex_users = [u["email"] for u in globex_admin.get(f"{server.url}/api/v1/tenants/globex/users", timeout=10).json()["items"]]
    assert globex_users == ["admin@globex.test"]


def test_operations_endpoints(server: Server):
    health = requests.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    server.operator().get(f"{server.url}/api/v1/tenants", timeout=10)
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'holdfast_info{version="0.1.0"} 1' in metrics
    assert "hb_requests" in metrics or "http_requests" in metrics or "hb_request" in metrics
    spec = yaml.safe_load(requests.get(f"{server.url}/openapi.yaml", timeout=10).text)
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/tenants/{slug}/users" in spec["paths"]


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate
    from conftest import ROOT

    validate(yaml.safe_load((ROOT / "openapi.yaml").read_text()))


def test_sigterm_shuts_down_gracefully_and_frees_the_port(binary, data_dir):
    running = start_server(binary, data_dir)
    port = int(running.url.rsplit(":", 1)[1])
    started = time.monotonic()
    assert running.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    running = start_server(binary, data_dir)
    assert running.stop(signal.SIGINT) == 0


def test_postgres_store_serves_the_same_api(binary, data_dir):
    base = os.environ.get("HOLDFAST_TEST_POSTGRES_URL")
    assert base, "HOLDFAST_TEST_POSTGRES_URL is not set: run the suite with `make test`"
    name = "e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    url = base.rsplit("/", 1)[0] + "/" + name
    running = start_server(binary, data_dir, database=url)
    try:
        assert running.operator_email
        create_two_tenants(running)
        ann = running.login("ann@acme.test", "correct horse")
        assert ann.get(f"{running.url}/api/v1/auth/me", timeout=10).json()["tenant"]["slug"] == "acme"
        assert not (data_dir / "holdfast.sqlite").exists()
    finally:
        running.stop()
        subprocess.run(["psql", base, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
