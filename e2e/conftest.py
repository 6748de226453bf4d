"""Fixtures that start the real `holdfast` binary on a temporary data directory and a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from browser import chromium

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.environ.get("HOLDFAST_BINARY", ROOT / ".build" / "debug" / "holdfast"))
ARTIFACTS = ROOT / "e2e" / "artifacts"


@pytest.fixture(scope="session")
def binary() -> Path:
    """The binary under test; `make test` builds it before pytest runs."""
    if not BINARY.exists():
        subprocess.run(["swift", "build", "--product", "holdfast"], cwd=ROOT, check=True)
    return BINARY


@dataclass
class Server:
    """A running `holdfast serve` and the way to talk to it."""

    binary: Path
    data_dir: Path
    process: subprocess.Popen
    url: str
    operator_email: str
    operator_password: str
    database: str | None = None
    output: list[str] = field(default_factory=list)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs another `holdfast` command on the same data, as an operator would."""
        result = subprocess.run(
            [str(self.binary), *args, *self.store_args()],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"holdfast {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def store_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        return args + (["--database", self.database] if self.database else [])

    def login(self, email: str, password: str) -> requests.Session:
        """A requests session signed in with a bearer token."""
        response = requests.post(f"{self.url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + response.json()["token"]
        return session

    def operator(self) -> requests.Session:
        return self.login(self.operator_email, self.operator_password)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"holdfast did not stop within {timeout}s of signal {sig}")
        return self.process.returncode


def start_server(binary: Path, data_dir: Path, database: str | None = None, extra: tuple[str, ...] = ()) -> Server:
    """Starts `holdfast serve --port 0` and waits for its `listening on` line."""
    store = ["--data-dir", str(data_dir)] + (["--database", database] if database else [])
    process = subprocess.Popen(
        [str(binary), "serve", *store, "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if match := re.match(r"listening on (http://\S+)", line):
                found["url"] = match.group(1)
            elif match := re.search(r"e-mail:\s+(\S+)", line):
                found["email"] = match.group(1)
            elif match := re.search(r"password:\s+(\S+)", line):
                found["password"] = match.group(1)
            if "url" in found:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(timeout=60) or "url" not in found:
        process.kill()
        raise AssertionError("holdfast serve did not announce its address:\n" + "".join(output))
    return Server(
        binary=binary,
        data_dir=data_dir,
        process=process,
        url=found["url"],
        operator_email=found.get("email", ""),
        operator_password=found.get("password", ""),
        database=database,
        output=output,
    )


def end_sessions_of(data_dir: Path) -> None:
    """Sessions outlive the server by design; a test ends the ones it started, so none is left
    running after the suite: their sandboxes (which name the data directory on their command
    line), their slirp4netns (named in each session's slirp.pid), and their workspace volumes
    (loop-mounted under the data directory, which could not be removed otherwise)."""
    subprocess.run(["pkill", "-KILL", "-f", f"{data_dir}/"], check=False)
    for pid_file in data_dir.glob("sessions/*/slirp.pid"):
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
    unmount_under(data_dir)


def unmount_under(directory: Path) -> None:
    """Unmounts (lazily, innermost first) whatever is still mounted under `directory`."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mountpoint in sorted((m for m in mounts if m.startswith(f"{directory}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False)


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="holdfast-e2e-") as directory:
        yield Path(directory) / "data"
        end_sessions_of(Path(directory) / "data")


def fresh_postgres_database() -> tuple[str, str]:
    """A new, empty database on the suite's throwaway cluster: (its URL, the cluster's URL)."""
    base = os.environ.get("HOLDFAST_TEST_POSTGRES_URL")
    assert base, "HOLDFAST_TEST_POSTGRES_URL is not set: run the suite with `make test`"
    name = "e2e_" + os.urandom(6).hex()
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name, base


def drop_postgres_database(url: str, base: str) -> None:
    name = url.rsplit("/", 1)[1]
    subprocess.run(["psql", base, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request):
    """The store a flow runs on: `None` (SQLite in the data directory) or a fresh PostgreSQL
    database. Tests that take it run once per store."""
    if request.param == "sqlite":
        yield None
        return
    url, base = fresh_postgres_database()
    yield url
    drop_postgres_database(url, base)


@pytest.fixture
def server(binary: Path, data_dir: Path):
    """A fresh server on its own data directory, stopped (gracefully) after the test."""
    running = start_server(binary, data_dir)
    yield running
    running.stop()


@pytest.fixture
def browser():
    """A fresh headless Chromium for one test, quit after it."""
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
