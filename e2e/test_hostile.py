"""The hostile user (issue 13): attacks tried from inside real sessions, each checked by its evidence.

Every test does what a stranger with a shell in Holdfast would try — make the tmux client run a
command on the host, follow a swapped socket into someone else's terminal, reach the server's
port, the database, S3, SMTP or the metadata address, exhaust processes, memory, disk, sessions
or clients, feed the settings API nonsense — and then looks for the evidence that it failed on
the host side: the file that was not written, the marker that did not appear, the connection the
listener never accepted, the API that kept answering.

One server serves the whole module (with PostgreSQL as its store, S3 backups on moto and an SMTP
relay on aiosmtpd, so the session's neighbours on the host are the real ones); tests keep apart
by tenant and user. Run it with `make test`, or alone:

    scripts/pg-cluster.sh run -- .venv/bin/python -m pytest e2e/test_hostile.py -v
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket

from conftest import ARTIFACTS, Server, end_sessions_of, start_server
from mailserver import MailServer
from objectstore import CREDENTIALS, MotoServer
from terminal import ANSI, Terminal
from test_sessions import PROMPT, start_session, wait_for_state

# The limits the "bounded" tenant gets from the operator: low enough to hit in seconds.
BOUNDED_LIMITS = {"pids": 64, "memoryMiB": 256, "diskGiB": 1, "sessionsPerUser": 5, "clientsPerSession": 4}
# What ends a probe that neither connects nor is refused (a dropped SYN): the probe is "shut".
PROBE_TIMEOUT = 3
GiB = 1 << 30


# ---------------------------------------------------------------------------------------------
# The module's server and its neighbours on the host


class Neighbours:
    """The services a session must never reach, all on the host's loopback: the database, S3,
    SMTP, and a canary that listens on every address (as many real services do) and counts who
    connected to it."""

    def __init__(self) -> None:
        base = os.environ.get("HOLDFAST_TEST_POSTGRES_URL")
        if not base:
            raise AssertionError(
                "HOLDFAST_TEST_POSTGRES_URL is not set: run this suite with `make test`, or "
                "`scripts/pg-cluster.sh run -- .venv/bin/python -m pytest e2e/test_hostile.py -v`"
            )
        self.database_name = "hostile_" + uuid.uuid4().hex[:12]
        self.postgres_base = base
        subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {self.database_name}"], check=True)
        self.database = base.rsplit("/", 1)[0] + "/" + self.database_name
        self.postgres_port = int(re.search(r":(\d+)/", base).group(1))
        self.moto = MotoServer()
        self.moto.create_bucket("hostile")
        self.mail = MailServer()
        self.canary = Canary()

    def stop(self) -> None:
        self.canary.close()
        self.mail.stop()
        self.moto.stop()
        subprocess.run(["psql", self.postgres_base, "-q", "-c", f"DROP DATABASE IF EXISTS {self.database_name} WITH (FORCE)"], check=False)


class Canary:
    """A TCP listener on 0.0.0.0 that records every connection it accepts."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("0.0.0.0", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[tuple[str, int]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, peer = self.listener.accept()
            except OSError:
                return
            self.accepted.append(peer)
            client.close()

    def close(self) -> None:
        self.listener.close()


class Hostile:
    """The module's server, its neighbours, and the sessions the tests started (closed at the end)."""

    def __init__(self, server: Server, neighbours: Neighbours) -> None:
        self.server = server
        self.neighbours = neighbours
        self.started: list[tuple[requests.Session, str]] = []
        self.accounts: dict[tuple[str, str], requests.Session] = {}

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    def member(self, slug: str, email: str) -> requests.Session:
        """A signed-in member of tenant `slug`, created on first use (the server lives for the module)."""
        if (slug, email) not in self.accounts:
            created = self.server.cli("admin", "create-tenant", "--name", slug.title(), "--slug", slug, check=False)
            assert created.returncode == 0 or "already taken" in created.stderr, created.stderr
            self.server.cli("admin", "create-user", "--tenant", slug, "--email", email, "--password", "correct horse", "--role", "member")
            self.accounts[(slug, email)] = self.server.login(email, "correct horse")
        return self.accounts[(slug, email)]

    def start(self, http: requests.Session) -> str:
        session_id = start_session(self.server, http)
        self.started.append((http, session_id))
        return session_id

    def attach(self, http: requests.Session, session_id: str) -> Terminal:
        term = Terminal.open(http, self.url, session_id)
        term.wait_for(PROMPT)
        return term

    def close(self, http: requests.Session, session_id: str) -> None:
        """Asks the server to close the session; does not wait (the final snapshot takes a while)."""
        response = http.delete(f"{self.url}/api/v1/sessions/{session_id}", timeout=30)
        assert response.status_code in (200, 202, 204, 409), f"closing {session_id}: {response.status_code} {response.text}"

    def events(self, http: requests.Session, session_id: str) -> list[dict]:
        response = http.get(f"{self.url}/api/v1/sessions/{session_id}/events", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def patch_tenant(self, slug: str, body: dict) -> requests.Response:
        return self.server.operator().patch(f"{self.url}/api/v1/tenants/{slug}", json=body, timeout=10)

    def tenant(self, slug: str) -> dict:
        response = self.server.operator().get(f"{self.url}/api/v1/tenants/{slug}", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def data_sessions(self) -> Path:
        return self.server.data_dir / "sessions"


@pytest.fixture(scope="module")
def hostile(binary):
    neighbours = Neighbours()
    directory = tempfile.TemporaryDirectory(prefix="holdfast-hostile-", ignore_cleanup_errors=True)
    data_dir = Path(directory.name) / "data"
    try:
        with pytest.MonkeyPatch.context() as env:
            for name, value in CREDENTIALS.items():
                env.setenv(name, value)
            server = start_server(
                binary,
                data_dir,
                database=neighbours.database,
                extra=("--backup-repository", f"s3:{neighbours.moto.url}/hostile/holdfast", "--smtp", neighbours.mail.url),
            )
        running = Hostile(server, neighbours)
        yield running
        for http, session_id in running.started:
            try:
                http.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=30)
            except requests.RequestException:
                pass
        deadline = time.monotonic() + 30
        for http, session_id in running.started:
            while time.monotonic() < deadline:
                try:
                    if http.get(f"{server.url}/api/v1/sessions/{session_id}", timeout=10).json().get("state") == "closed":
                        break
                except (requests.RequestException, ValueError):
                    break
                time.sleep(0.2)
        server.stop()
        # What the server logged, for a failure's diagnosis (CI keeps e2e/artifacts).
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "hostile-server.log").write_text("".join(server.output))
    finally:
        end_sessions_of(data_dir)
        neighbours.stop()
        directory.cleanup()


@pytest.fixture(scope="module")
def bounded(hostile: Hostile) -> dict:
    """The tenant `bounded`, given low limits by the operator (what its tests try to exceed)."""
    hostile.member("bounded", "first@bounded.test")
    response = hostile.patch_tenant("bounded", {"limits": BOUNDED_LIMITS})
    assert response.status_code == 200, f"the operator could not set the limits: {response.status_code} {response.text}"
    limits = response.json().get("limits", {})
    assert {key: limits.get(key) for key in BOUNDED_LIMITS} == BOUNDED_LIMITS, response.text
    return limits


# ---------------------------------------------------------------------------------------------
# Evidence from the host


def host_processes() -> dict[int, dict]:
    """Every process on the host: its parent, real and effective uid, name and command line."""
    found: dict[int, dict] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        uids = fields.get("Uid", "0 0 0 0").split()
        found[int(entry.name)] = {
            "ppid": int(fields.get("PPid", "0")),
            "uid": int(uids[0]),
            "euid": int(uids[1]),
            "name": fields.get("Name", "").strip(),
            "cmdline": cmdline,
        }
    return found


def descendants(root: int, processes: dict[int, dict]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, info in processes.items():
        children.setdefault(info["ppid"], []).append(pid)
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def tmux_server_of(hostile: Hostile, session_id: str) -> int:
    """The host pid of a session's tmux server (the sandbox's main process)."""
    pid_file = hostile.data_sessions() / session_id / "sandbox.pid"
    assert pid_file.exists(), f"{pid_file} is missing: where does the server keep the sandbox's pid now?"
    leader = int(pid_file.read_text().split()[0])
    processes = host_processes()
    servers = [pid for pid in [leader, *descendants(leader, processes)] if processes.get(pid, {}).get("name", "").startswith("tmux")]
    assert servers, f"no tmux process under the sandbox leader {leader}: {[processes.get(p) for p in descendants(leader, processes)]}"
    return servers[0]


def host_eth_address() -> str:
    output = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    addresses = [match.group(2) for match in re.finditer(r"^\d+:\s+(\S+)\s+inet\s+([\d.]+)/", output, re.M) if match.group(1) != "lo"]
    assert addresses, f"the host has no IPv4 address besides loopback:\n{output}"
    return addresses[0]


def host_connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


PROBE = """
import socket, sys, threading
def probe(host, port):
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            verdict, why = "open", "connected"
    except OSError as error:
        verdict, why = "shut", type(error).__name__ + ":" + str(error.errno)
    print("probe-" + verdict, host + "/" + str(port), why, flush=True)
threads = [threading.Thread(target=probe, args=(h, int(p))) for h, p in (t.split("/") for t in sys.argv[1:])]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def probe_from(term: Terminal, targets: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Tries every target from inside the session at once (python3's socket, each attempt bounded
    by PROBE_TIMEOUT), and returns `open` or `shut` with the reason for each."""
    script = base64.b64encode(PROBE.replace("TIMEOUT", str(PROBE_TIMEOUT)).encode()).decode()
    words = " ".join(f"{host}/{port}" for host, port in targets)
    output = term.run(f'python3 -c "$(echo {script} | base64 -d)" {words} 2>&1', timeout=PROBE_TIMEOUT * 4 + 20)
    found = {}
    for verdict, host, port, why in re.findall(r"probe-(open|shut) ([\w.:]+)/(\d+) (\S+)", output):
        found[(host, int(port))] = f"{verdict} ({why})"
    missing = [target for target in targets if target not in found]
    assert not missing, f"no verdict for {missing}; the session printed:\n{output}"
    return found


def clean(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


# ---------------------------------------------------------------------------------------------
# No confused deputy: what tmux makes its client do happens inside the sandbox


def test_tmux_client_commands_run_inside_the_sandbox_not_on_the_host(hostile: Hostile):
    http = hostile.member("acme", "tmux@acme.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)
    session_uid = term.run("id -u").split()[0]
    assert session_uid.isdigit() and session_uid != "0", session_uid

    # While a client is attached, no tmux client of this server's sessions runs as root on the
    # host: neither one the server started nor one that names a session's socket (a broker's).
    processes = host_processes()
    under_server = set(descendants(hostile.server.process.pid, processes))
    clients = [
        pid
        for pid, info in processes.items()
        if info["name"].startswith("tmux")  # tmux names itself "tmux: client" and "tmux: server"
        and (pid in under_server or (" attach" in info["cmdline"] and ("/run/holdfast/" in info["cmdline"] or str(hostile.server.data_dir) in info["cmdline"])))
    ]
    assert clients, "found no tmux client of the attached terminal on the host: how do clients run now?"
    as_root = {pid: processes[pid] for pid in clients if processes[pid]["uid"] == 0 or processes[pid]["euid"] == 0}
    assert not as_root, f"tmux clients run as root on the host: {as_root}"

    # lock-command: the server makes every client run it, then the client carries on.
    locked = Path(f"/tmp/hf-hostile-lock-{uuid.uuid4().hex}")
    term.run(f"tmux set -g lock-command 'id > {locked}' \\; lock-client; sleep 1")
    time.sleep(1)
    assert not locked.exists(), f"lock-command ran on the host: {locked} holds {locked.read_text()!r}"
    inside = term.run(f"cat {locked} 2>&1")
    assert "uid=0(" not in inside, f"lock-command ran as root: {inside!r}"
    if "No such file" not in inside:
        assert f"uid={session_uid}(" in inside, f"lock-command ran in the sandbox, but not as the session's user: {inside!r}"

    # detach-client -E: the client execs the command instead of exiting.
    detached = Path(f"/tmp/hf-hostile-detach-{uuid.uuid4().hex}")
    term.type(f"tmux detach-client -E 'id > {detached}'\r")
    term.closed.wait(5)  # the gateway may or may not end the connection when its client exits
    time.sleep(1)
    assert not detached.exists(), f"detach-client -E ran on the host: {detached} holds {detached.read_text()!r}"
    again = hostile.attach(http, session_id)
    inside = again.run(f"cat {detached} 2>&1")
    assert "uid=0(" not in inside, f"detach-client -E ran as root: {inside!r}"
    if "No such file" not in inside:
        assert f"uid={session_uid}(" in inside, f"detach-client -E ran in the sandbox, but not as the session's user: {inside!r}"
    again.close()
    hostile.close(http, session_id)


def test_a_swapped_socket_does_not_lead_into_another_session(hostile: Hostile):
    ann = hostile.member("acme", "ann@acme.test")
    bob = hostile.member("globex", "bob@globex.test")
    victim = hostile.start(bob)
    attacker = hostile.start(ann)
    bob_term = hostile.attach(bob, victim)
    secret = "hfsecret" + uuid.uuid4().hex[:12]
    bob_term.run(f"echo {secret}")

    victim_socket = hostile.data_sessions() / victim / "socket" / "tmux.sock"
    assert victim_socket.exists(), f"{victim_socket} is missing: where does the server keep a session's socket now?"
    victim_server = tmux_server_of(hostile, victim)
    targets = {
        "the host path of bob's socket": str(victim_socket),
        "bob's socket through his tmux server's root": f"/proc/{victim_server}/root/run/holdfast/tmux.sock",
        "a relative path to bob's socket folder": f"../../{victim}/socket/tmux.sock",
    }

    ann_term = hostile.attach(ann, attacker)
    for what, target in targets.items():
        listing = ann_term.run(f"ln -sfn {shlex.quote(target)} /run/holdfast/tmux.sock && ls -l /run/holdfast/")
        assert "tmux.sock ->" in listing, f"could not plant the symlink to {what}: {listing!r}"
        ticket = ann.post(f"{hostile.url}/api/v1/sessions/{attacker}/tickets", timeout=10)
        if ticket.status_code != 201:
            continue  # refused outright: not led anywhere
        intruder = Terminal(hostile.url, attacker, ticket.json()["ticket"])
        time.sleep(2)  # a full redraw of whatever it reached arrives within milliseconds
        intruder.close()
        assert secret not in intruder.text(), f"a new attach to ann's session followed the symlink ({what}) into bob's:\n{clean(intruder.text())[-1500:]}"

    # bob's session saw no second client, and still works.
    clients = bob_term.run("tmux list-clients | wc -l").split()
    assert clients and clients[0] == "1", f"bob's tmux server had other clients: {clients}"
    assert "bob-still-ok" in bob_term.run("echo bob-still-$(echo ok)")

    # Control: with the real socket back (SIGUSR1 makes tmux recreate it), attaching works, so the
    # refusals above were the symlinks' doing.
    ann_term.run('rm -f /run/holdfast/tmux.sock; p=${TMUX#*,}; kill -USR1 "${p%%,*}"; sleep 0.5')
    restored = hostile.attach(ann, attacker)
    assert secret not in restored.text()
    assert "ann-ok" in restored.run("echo ann-$(echo ok)")
    for term in (restored, ann_term, bob_term):
        term.close()
    hostile.close(ann, attacker)
    hostile.close(bob, victim)


# ---------------------------------------------------------------------------------------------
# Network: the session's own namespace, and nothing of the host


def neighbour_targets(hostile: Hostile) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(every address:port a session must not reach, the host-side controls that must connect)."""
    neighbours = hostile.neighbours
    ports = {
        "holdfast": hostile.port,
        "postgres": neighbours.postgres_port,
        "s3": neighbours.moto.port,
        "smtp": neighbours.mail.port,
        "canary": neighbours.canary.port,
    }
    eth = host_eth_address()
    # 127.0.0.1: the session's own loopback must not be the host's; 10.0.2.2 and 10.0.2.3: slirp's
    # gateway and DNS forwarder, which slirp4netns translates to the host; eth: the host's own
    # address, where a service on 0.0.0.0 (the canary) answers.
    hosts = ["127.0.0.1", "10.0.2.2", "10.0.2.3", eth]
    forbidden = [(host, port) for host in hosts for port in ports.values()] + [("169.254.169.254", 80)]
    controls = [("127.0.0.1", port) for port in ports.values()] + [(eth, neighbours.canary.port)]
    return forbidden, controls


def assert_nothing_of_the_host_is_reached(hostile: Hostile, term: Terminal) -> None:
    forbidden, controls = neighbour_targets(hostile)
    canary = hostile.neighbours.canary
    expected = len(canary.accepted) + sum(1 for _, port in controls if port == canary.port)
    unreachable_from_host = [target for target in controls if not host_connects(*target)]
    assert not unreachable_from_host, f"the host itself cannot reach {unreachable_from_host}: the probes would prove nothing"
    deadline = time.monotonic() + 5
    while len(canary.accepted) < expected and time.monotonic() < deadline:
        time.sleep(0.05)  # the canary's thread records the host's own connections
    accepted_before = len(canary.accepted)
    verdicts = probe_from(term, forbidden)
    reached = [f"{host}:{port}" for (host, port), verdict in verdicts.items() if verdict.startswith("open")]
    everything = "\n".join(f"  {host}:{port} {verdict}" for (host, port), verdict in sorted(verdicts.items()))
    assert not reached, f"a session connected to the host's services: {reached}; every probe:\n{everything}"
    assert len(hostile.neighbours.canary.accepted) == accepted_before, f"the canary accepted {hostile.neighbours.canary.accepted[accepted_before:]}"


# An address of deb.debian.org's CDN (Fastly), fetched by address with the name in `Host:`. This
# machine's resolver answers deb.debian.org with a proxy in TEST-NET-3 (203.0.113.0/24), a reserved
# range that sessions are refused like every private one; a public address is what "internet" means.
PUBLIC_WEB = "151.101.2.132"
FETCH_PUBLIC = (
    "timeout 20 python3 -c \"import urllib.request as u; "
    f"print('http-status', u.urlopen(u.Request('http://{PUBLIC_WEB}/debian/', headers={{'Host': 'deb.debian.org'}}), timeout=15).status)\""
    " 2>&1 | tail -1"
)


def test_a_session_with_internet_reaches_the_internet_but_nothing_of_the_host(hostile: Hostile):
    try:
        requests.get(f"http://{PUBLIC_WEB}/debian/", headers={"Host": "deb.debian.org"}, timeout=15).raise_for_status()
    except requests.RequestException as error:
        raise AssertionError(f"the host itself cannot fetch http://{PUBLIC_WEB}/debian/ ({error}): this test needs the internet") from error
    http = hostile.member("acme", "net@acme.test")
    assert hostile.tenant("acme").get("network") == "internet", "a tenant's network should be internet by default"
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)

    assert_nothing_of_the_host_is_reached(hostile, term)
    resolved = term.run("getent hosts deb.debian.org >/dev/null && echo resolved", timeout=30)
    assert "resolved" in resolved, f"a session with internet cannot resolve names:\n{resolved}"
    fetched = term.run(FETCH_PUBLIC, timeout=40)
    assert "http-status 200" in fetched, f"a session with internet could not fetch http://{PUBLIC_WEB}/debian/:\n{fetched}"
    term.close()
    hostile.close(http, session_id)


def test_a_session_without_network_has_loopback_only(hostile: Hostile):
    http = hostile.member("offline", "olga@offline.test")
    changed = hostile.patch_tenant("offline", {"network": "none"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["network"] == "none"
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)

    links = term.run("ip -o link 2>&1 | awk -F': ' '{print \"link:\" $2}'")
    names = re.findall(r"link:(\S+)", links)
    assert names == ["lo"], f"a session without network has links {names}:\n{links}"
    fetched = term.run(FETCH_PUBLIC, timeout=40)
    assert "http-status" not in fetched, f"a session without network fetched from the internet: {fetched}"
    assert_nothing_of_the_host_is_reached(hostile, term)
    term.close()
    hostile.close(http, session_id)


# ---------------------------------------------------------------------------------------------
# Privileges


def test_the_shell_has_no_privileges_and_setuid_does_not_elevate(hostile: Hostile):
    http = hostile.member("acme", "root-wannabe@acme.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)

    uid = term.run("id -u").split()[0]
    assert uid.isdigit() and uid != "0", f"the shell runs as {uid}"
    capabilities = dict(re.findall(r"(Cap\w+):\s*([0-9a-f]+)", term.run("grep Cap /proc/self/status | tr '\\t' ' '")))
    assert set(capabilities) == {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}, capabilities
    assert all(int(value, 16) == 0 for value in capabilities.values()), f"the shell has capabilities: {capabilities}"
    assert re.search(r"NoNewPrivs:\s*1", term.run("grep NoNewPrivs /proc/self/status | tr '\\t' ' '")), "no_new_privs is not set"

    shadow = term.run("cat /etc/shadow; echo rc=$?")
    assert "root:" not in shadow and not re.search(r"rc=0\b", shadow), f"/etc/shadow is readable: {shadow!r}"
    # Setuid programs exist in /usr (the control), and running them gains nothing.
    modes = term.run("stat -c '%A %n' /usr/bin/su /usr/bin/passwd")
    assert modes.count("-rws") == 2, f"expected the setuid su and passwd in the sandbox's /usr: {modes!r}"
    su = term.run("timeout 5 su -c id root </dev/null 2>&1; echo rc=$?")
    assert "uid=0(" not in su and not re.search(r"rc=0\b", su), f"su elevated: {su!r}"
    passwd = term.run("timeout 5 /usr/bin/passwd -S root </dev/null 2>&1; echo rc=$?")
    assert not re.search(r"rc=0\b", passwd), f"passwd ran as root: {passwd!r}"
    term.close()
    hostile.close(http, session_id)


def test_seccomp_refuses_syscalls_a_shell_never_needs(hostile: Hostile):
    http = hostile.member("acme", "syscalls@acme.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)
    assert re.search(r"Seccomp:\s*2", term.run("grep Seccomp: /proc/self/status | tr '\\t' ' '")), "the shell runs without a seccomp filter"
    # Each call would get a real answer from the kernel without a filter: keyctl a new keyring id,
    # add_key and perf_event_open EFAULT for the null pointer. A filter answers EPERM or ENOSYS.
    script = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, nr, args in [('keyctl', 250, (0, -3, 1)), ('add_key', 248, (0, 0, 0, 0, -3)), "
        "('perf_event_open', 298, (0, 0, -1, -1, 0))]:\n"
        "    r = libc.syscall(nr, *args); print('syscall', name, r, ctypes.get_errno())\n"
    )
    output = term.run(f"python3 -c {shlex.quote(script)} 2>&1")
    results = {name: (int(r), int(errno)) for name, r, errno in re.findall(r"syscall (\w+) (-?\d+) (\d+)", output)}
    assert set(results) == {"keyctl", "add_key", "perf_event_open"}, output
    allowed = {name: result for name, result in results.items() if not (result[0] == -1 and result[1] in (1, 38))}
    assert not allowed, f"syscalls not refused by a filter (result, errno): {allowed}"
    term.close()
    hostile.close(http, session_id)


# ---------------------------------------------------------------------------------------------
# Limits


def test_a_fork_bomb_is_contained_while_the_api_and_other_sessions_stay_responsive(hostile: Hostile, bounded: dict):
    bomber = hostile.member("bounded", "bomber@bounded.test")
    neighbour = hostile.member("bounded", "neighbour@bounded.test")
    bomb_session = hostile.start(bomber)
    quiet_session = hostile.start(neighbour)
    bomb = hostile.attach(bomber, bomb_session)
    quiet = hostile.attach(neighbour, quiet_session)

    bomb.type("for i in $(seq 500); do sleep 60 & done\r")
    bomb.wait_for(r"fork: (retry: )?Resource temporarily unavailable", timeout=30)

    slowest = 0.0
    for _ in range(10):
        started = time.monotonic()
        health = requests.get(f"{hostile.url}/healthz", timeout=5)
        slowest = max(slowest, time.monotonic() - started)
        assert health.status_code == 200, health.text
        time.sleep(0.2)
    assert slowest < 1.5, f"/healthz took {slowest:.2f} s during the fork bomb"
    started = time.monotonic()
    listed = bomber.get(f"{hostile.url}/api/v1/sessions/{bomb_session}", timeout=5)
    assert listed.status_code == 200 and time.monotonic() - started < 1.5, f"the API stalled: {listed.status_code}"
    # Another user's session forks freely.
    assert "neighbour-ok" in quiet.run("ls /usr | wc -l; sleep 0.2; echo neighbour-$(echo ok)", timeout=15)

    # The bomb stays at its limit, as the admin view reports it.
    sessions = hostile.server.operator().get(f"{hostile.url}/api/v1/tenants/bounded/sessions", timeout=10).json()["items"]
    usage = next(item for item in sessions if item["id"] == bomb_session).get("usage")
    assert usage and usage.get("pidsLimit") == 64 and usage.get("pids") is not None and usage["pids"] <= 64, f"the admin view's usage: {usage}"

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "limit" not in [e["type"] for e in hostile.events(bomber, bomb_session)]:
        time.sleep(0.5)
    events = hostile.events(bomber, bomb_session)
    assert any(e["type"] == "limit" for e in events), f"the timeline records no limit: {events}"

    # A session at its process limit still closes.
    hostile.close(bomber, bomb_session)
    wait_for_state(hostile.server, bomber, bomb_session, "closed", timeout=60)
    quiet.close()
    hostile.close(neighbour, quiet_session)


def test_a_memory_hog_is_killed_alone_and_the_timeline_says_so(hostile: Hostile, bounded: dict):
    http = hostile.member("bounded", "hog@bounded.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)

    output = term.run("python3 -c \"b=bytearray(600*1024*1024); print('alive')\"; echo rc=$?", timeout=60)
    assert "alive" not in output, f"600 MiB fit in a 256 MiB session: {output!r}"
    assert "Killed" in output and "rc=137" in output, f"the hog was not killed: {output!r}"
    assert "after-42" in term.run("echo after-$((6*7))"), "the shell did not survive the hog"

    deadline = time.monotonic() + 10
    limit_events = []
    while time.monotonic() < deadline and not limit_events:
        limit_events = [e for e in hostile.events(http, session_id) if e["type"] == "limit"]
        time.sleep(0.5)
    assert limit_events, f"no `limit` event within 10 s: {hostile.events(http, session_id)}"
    assert "memory" in (limit_events[0].get("detail") or ""), limit_events
    # The terminal was told, not silently killed.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("memory" in n.get("message", "") for n in term.notices):
        time.sleep(0.2)
    told = [n for n in term.notices if "memory" in n.get("message", "")] or re.findall(r".*memory limit.*", clean(term.text()))
    assert told, f"the terminal got no message about the memory limit; notices: {term.notices}"
    term.close()
    hostile.close(http, session_id)


def test_the_workspace_fills_to_its_quota_while_the_host_has_room(hostile: Hostile, bounded: dict):
    stats = os.statvfs(hostile.server.data_dir)
    free_before = stats.f_bavail * stats.f_frsize
    assert free_before > 4 * GiB, f"the host has only {free_before / GiB:.1f} GiB free: the test could not tell a quota from a full disk"
    http = hostile.member("bounded", "disk@bounded.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)

    try:
        allocated = term.run("fallocate -l 2G ~/big 2>&1; echo rc=$?", timeout=60)
        assert "No space left on device" in allocated and "rc=0" not in allocated, f"a 2 GiB file fit in a 1 GiB workspace: {allocated!r}"
        written = term.run("dd if=/dev/zero of=$HOME/big bs=1M count=1500 status=none 2>&1; echo rc=$?; du -m $HOME/big", timeout=120)
        assert "No space left on device" in written, f"1.5 GiB was written into a 1 GiB workspace: {written!r}"
        size = re.search(r"(\d+)\s+\S*big", written)
        assert size and int(size.group(1)) <= 1100, f"the workspace holds more than its quota: {written!r}"
        stats = os.statvfs(hostile.server.data_dir)
        assert stats.f_bavail * stats.f_frsize > 2 * GiB, "the host's data directory filled up: the quota did not stop the writes"
    finally:
        # A full workspace would go into the session's final snapshot.
        term.run("rm -f ~/big")
    term.close()
    hostile.close(http, session_id)


def test_tmp_is_size_capped(hostile: Hostile, bounded: dict):
    http = hostile.member("bounded", "tmp@bounded.test")
    session_id = hostile.start(http)
    term = hostile.attach(http, session_id)
    written = term.run("dd if=/dev/zero of=/tmp/fill bs=1M count=300 status=none 2>&1; echo rc=$?; stat -c 'size=%s' /tmp/fill", timeout=60)
    assert "No space left on device" in written, f"300 MiB fit in /tmp of a 256 MiB session: {written!r}"
    size = re.search(r"size=(\d+)", written)
    assert size and int(size.group(1)) < 256 << 20, f"/tmp took more than the session's memory: {written!r}"
    assert "after-ok" in term.run("rm -f /tmp/fill; echo after-$(echo ok)")
    term.close()
    hostile.close(http, session_id)


def test_the_sixth_session_of_a_user_is_refused_with_a_clear_error(hostile: Hostile, bounded: dict):
    http = hostile.member("bounded", "many@bounded.test")
    sessions = [hostile.start(http) for _ in range(5)]
    refused = http.post(f"{hostile.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=30)
    if refused.status_code == 201:
        hostile.started.append((http, refused.json()["id"]))
    assert refused.status_code == 409, f"the sixth session: {refused.status_code} {refused.text}"
    error = refused.json()["error"]
    assert error["code"] == "session_limit", error
    assert "5" in error["message"], f"the message does not say how many: {error['message']!r}"
    unnamed = [session_id for session_id in sessions if session_id[:8] not in error["message"]]
    assert not unnamed, f"the message does not say which sessions (by the start of their ids): {error['message']!r} lacks {unnamed}"
    # Closing one frees a place.
    hostile.close(http, sessions[0])
    wait_for_state(hostile.server, http, sessions[0], "closed", timeout=60)
    hostile.start(http)


def test_the_fifth_client_of_a_session_is_refused_and_the_four_keep_working(hostile: Hostile, bounded: dict):
    http = hostile.member("bounded", "crowd@bounded.test")
    session_id = hostile.start(http)
    clients = [hostile.attach(http, session_id) for _ in range(4)]

    ticket = http.post(f"{hostile.url}/api/v1/sessions/{session_id}/tickets", timeout=10)
    if ticket.status_code == 201:
        try:
            fifth = Terminal(hostile.url, session_id, ticket.json()["ticket"])
        except websocket.WebSocketBadStatusException as refused:  # refused at the upgrade
            assert refused.status_code == 409, f"the fifth client's upgrade: {refused.status_code} {refused.resp_body!r}"
            error = json.loads(refused.resp_body)["error"]
            assert error["code"] == "client_limit", error
            message = error["message"]
        else:
            assert fifth.closed.wait(10), f"a fifth client was attached:\n{clean(fifth.text())[-500:]}"
            codes = [notice.get("code") for notice in fifth.notices]
            assert "client_limit" in codes, f"the fifth client was closed without a clear reason: notices {fifth.notices}, close {fifth.close_code}"
            message = next(notice["message"] for notice in fifth.notices if notice.get("code") == "client_limit")
            assert fifth.close_code == 4409, fifth.close_code
    else:
        assert ticket.status_code == 409, f"the fifth client's ticket: {ticket.status_code} {ticket.text}"
        error = ticket.json()["error"]
        assert error["code"] == "client_limit", error
        message = error["message"]
    assert "4" in message, f"the message does not say how many clients: {message!r}"

    for number, client in enumerate(clients):
        assert not client.closed.is_set(), f"client {number} was closed by the refusal"
        assert f"client-{number}-ok" in client.run(f"echo client-{number}-$(echo ok)")
    # One leaves: a new one may come.
    clients.pop().close()
    deadline = time.monotonic() + 15
    while True:
        ticket = http.post(f"{hostile.url}/api/v1/sessions/{session_id}/tickets", timeout=10)
        assert ticket.status_code == 201, ticket.text
        newcomer = Terminal(hostile.url, session_id, ticket.json()["ticket"])
        if not newcomer.closed.wait(1.5):
            break
        assert time.monotonic() < deadline, f"no place was freed when a client left: {newcomer.notices}"
        time.sleep(0.5)
    assert "newcomer-ok" in newcomer.run("echo newcomer-$(echo ok)")
    for client in [*clients, newcomer]:
        client.close()
    hostile.close(http, session_id)


# ---------------------------------------------------------------------------------------------
# Bad input to the limits


def host_memory_mib() -> int:
    meminfo = Path("/proc/meminfo").read_text()
    return int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) // 1024


@pytest.mark.parametrize(
    "body, field",
    [
        ({"limits": {"pids": -1}}, "pids"),
        ({"limits": {"memoryMiB": 0}}, "memoryMiB"),
        ({"limits": {"memoryMiB": -256}}, "memoryMiB"),
        ({"limits": {"memoryMiB": 10**9}}, "memoryMiB"),
        ({"limits": {"memoryMiB": "HOST+1GiB"}}, "memoryMiB"),
        ({"limits": {"pids": 10**7}}, "pids"),
        ({"limits": {"pids": 0}}, "pids"),
        ({"limits": {"diskGiB": 10**6}}, "diskGiB"),
        ({"limits": {"diskGiB": 0}}, "diskGiB"),
        ({"limits": {"sessionsPerUser": 0}}, "sessionsPerUser"),
        ({"limits": {"clientsPerSession": -4}}, "clientsPerSession"),
        ({"limits": {"cpuWeight": 0}}, "cpuWeight"),
        ({"limits": {"memoryMiB": 1e30}}, "memoryMiB"),
        ({"limits": {"memoryMiB": 512.5}}, "memoryMiB"),
        ({"limits": {"pids": 128, "memoryMiB": -1}}, "memoryMiB"),
        ({"limits": {"forks": 10}}, "forks"),
        ({"network": "everything"}, "network"),
    ],
)
def test_bad_limits_are_refused_and_change_nothing(hostile: Hostile, body: dict, field: str):
    hostile.member("strict", "sam@strict.test")  # the tenant; its limits are the standard ones
    if body.get("limits", {}).get("memoryMiB") == "HOST+1GiB":
        body = {"limits": {"memoryMiB": host_memory_mib() + 1024}}  # plausible, but more than this host has
    before = hostile.tenant("strict")
    response = hostile.patch_tenant("strict", body)
    assert response.status_code == 422, f"{body}: {response.status_code} {response.text}"
    error = response.json().get("error", {})
    assert error.get("code") and error.get("message"), f"{body}: no code and message in {response.text}"
    assert field in error["message"], f"{body}: the message does not name {field}: {error['message']!r}"
    after = hostile.tenant("strict")
    assert (after.get("limits"), after.get("network")) == (before.get("limits"), before.get("network")), f"{body} changed the tenant"
