"""Secrets stay out of the process list and the logs (issue 14), against the real binary."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from conftest import start_server


def command_lines(root_pid: int) -> list[str]:
    """The command lines of a process and everything it started, as `ps` shows them to anyone."""
    lines, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            continue
        pending += [int(child) for child in children]
    return lines


def test_a_database_password_never_appears_in_the_process_list(binary: Path, data_dir: Path, tmp_path: Path):
    base = os.environ.get("HOLDFAST_TEST_POSTGRES_URL")
    assert base, "HOLDFAST_TEST_POSTGRES_URL is not set: run the suite with `make test`"
    password = "pw-" + uuid.uuid4().hex
    name = "e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    url = base.replace("postgres@", f"postgres:{password}@").rsplit("/", 1)[0] + "/" + name
    try:
        # On the command line it is refused before anything runs, and the answer says where it goes.
        refused = subprocess.run([str(binary), "migrate", "--data-dir", str(data_dir), "--database", url],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0
        assert "HOLDFAST_DATABASE_URL" in refused.stderr and password not in refused.stderr

        # A file others can read is refused too.
        url_file = tmp_path / "database-url"
        url_file.write_text(url + "\n")
        url_file.chmod(0o640)
        open_file = subprocess.run([str(binary), "serve", "--data-dir", str(data_dir), "--port", "0", "--database-file",
                                    str(url_file)], capture_output=True, text=True, timeout=60)
        assert open_file.returncode != 0 and "chmod 600" in open_file.stderr, open_file.stderr

        url_file.chmod(0o600)
        server = start_server(binary, data_dir, extra=("--database-file", str(url_file)))
        try:
            assert server.operator_email, "".join(server.output)
            op = server.operator()
            assert op.get(f"{server.url}/api/v1/tenants", timeout=10).status_code == 200
            shown = command_lines(server.process.pid)
            assert any("serve" in line for line in shown)
            assert not any(password in line for line in shown), shown
            assert not any(password in line for line in server.output)
            # Another command finds the same store through the environment.
            migrated = subprocess.run([str(binary), "migrate", "--data-dir", str(data_dir)],
                                      capture_output=True, text=True, timeout=60,
                                      env={**os.environ, "HOLDFAST_DATABASE_URL": url})
            assert migrated.returncode == 0 and "up to date" in migrated.stdout, migrated.stderr
            assert not (data_dir / "holdfast.sqlite").exists()
        finally:
            server.stop()
    finally:
        subprocess.run(["psql", base, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
