"""Churn soak: many terminal sessions dropped, resumed and left to expire for minutes on end,
with the S3 backup store cut for a minute and the server killed (`kill -9`) and restarted in
the middle. It checks what must never happen rather than timing what usually does:

- a session lost within its grace (a resume before `expiresAt` refused, or the shell silent);
- a session left past its grace that is not `closed` (verified final snapshot) in time;
- a file confirmed written before a drop and then missing: from the live workspace (read back
  with `grep` on resume), from the session's final snapshot, or from the user's newest snapshot;
- a sandbox process left running once every session is closed and the server stopped;
- an expiry later than 1.5 s after the `expiresAt` the API reported just before.

    .venv/bin/python bench/soak.py [--sessions 200] [--minutes 10] [--grace 60s] [--heartbeat 5s]
                                   [--outage 60] [--close-allowance 120] [--seed 1]

Each of `--sessions` slots (spread over users, `sessionsPerUser` is 5) starts a session, then
loops: write `~/soak-<n>.txt` with a random token and confirm it, stay attached a while, then
drop the connection (TCP reset), detach politely, go silent behind a relay, or walk away for
good; resume within half the grace and read every file back; a session walked away from is
left to expire and the slot starts a new one. At the end the churn stops, every session left
to expire is waited for, the remaining ones are closed with DELETE, and the timelines and the
snapshots are read. Figures go to bench/results/soak.json. The exit status is 1 when a session
was lost, a close or a file went missing, or a process leaked (lateness is a figure, not a
failure). `HOLDFAST_BINARY` picks the binary (default the release build).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

from common import PASSWORD, ROOT, Server, loadavg, percentile, rss_mib, write_result

sys.path.insert(0, str(ROOT / "e2e"))
from objectstore import CREDENTIALS, MotoServer  # noqa: E402
from terminal import ANSI, Relay, Terminal  # noqa: E402

PROMPT = "user@holdfast"
BUCKET = "soak"
DWELL = (8.0, 40.0)  # seconds attached (after a write) before the next disruption
ACTIONS = {"drop": 55, "detach": 10, "silent": 15, "expire": 20}  # weights of the disruptions
RESUME_MARGIN = 3.0  # a resume is attempted (and counted) only this long before the promised deadline
PERSIST_SLACK = 5.0  # after a kill -9 a session's last traffic may be this stale (lastTrafficPersistInterval)
SHELL_TIMEOUT = 30.0  # the shell must answer a command within this
SLOTS_PER_USER = 3  # sessionsPerUser is 5: room for two more of a user's sessions still closing
READ_BACK = 12  # a resume reads back the session's newest files (older ones were read on earlier resumes)


def parse_time(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def clock(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3] if epoch else "-"


class LinkRelay(Relay):
    """e2e's relay, passing an end of stream on as a network does (FIN), except while silent:
    without it a client behind the relay would not see the server go away at the kill -9. A
    connection's two sockets are closed once both directions have ended: the S3 relay carries
    thousands of restic connections in a soak, and keeping them would run out of descriptors."""

    def __init__(self, target_port: int):
        self._ended: set[frozenset] = set()
        self._ended_lock = threading.Lock()
        super().__init__(target_port)

    def _pump(self, source, sink) -> None:
        super()._pump(source, sink)
        if not self.silent.is_set():
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        pair = frozenset((id(source), id(sink)))
        with self._ended_lock:
            if pair not in self._ended:
                self._ended.add(pair)  # the other direction is still open
                return
            self._ended.discard(pair)
        for sock in (source, sink):
            try:
                sock.close()
            except OSError:
                pass
            try:
                self.sockets.remove(sock)
            except ValueError:
                pass


class Client(Terminal):
    """e2e's terminal client, noting when its connection ended and the relay it may go through."""

    relay: Relay | None = None
    ended_at: float | None = None

    def text_since(self, offset: int) -> str:
        """The screen from byte `offset` on: 200 clients searching whole transcripts every
        tenth of a second would load the machine more than the server does."""
        with self._lock:
            return self.screen[offset:].decode("utf-8", errors="replace")

    def _read(self) -> None:
        try:
            super()._read()
        finally:
            self.ended_at = time.time()


class Broken(Exception):
    """The terminal's connection ended under us (a restart, or the server closed it)."""


class NoAnswer(Exception):
    """The shell did not answer within SHELL_TIMEOUT."""


@dataclass
class Written:
    name: str
    token: str
    session_id: str

    @property
    def size(self) -> int:
        return len(self.token) + 1  # echo adds a newline


@dataclass
class User:
    email: str
    http: requests.Session
    files: list[Written] = field(default_factory=list)  # every confirmed write, oldest first


@dataclass
class Tracked:
    """One session the soak started, and what it knows about it."""

    id: str
    user: User
    files: list[Written] = field(default_factory=list)
    disconnects: list[tuple[str, float]] = field(default_factory=list)  # (drop/detach/silent, wall time)
    end: str | None = None  # "expire": left past its grace; "delete": closed at the end
    ended_at: float | None = None
    expires_at: float | None = None  # expiresAt as the API reported it, last read before it passed
    lost: str | None = None  # why a resume within grace failed
    recoveries: int = 0
    term: Client | None = None  # the client still attached at the end, until the DELETE


class Tally:
    """Counters and incident lists, shared by every thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.incidents: dict[str, list[str]] = {}

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + by

    def incident(self, kind: str, text: str) -> None:
        with self.lock:
            self.incidents.setdefault(kind, []).append(text)
        print(f"  ! {kind}: {text}", flush=True)

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    def listed(self, kind: str) -> list[str]:
        return self.incidents.get(kind, [])


def shell(term: Client, command: str, timeout: float = SHELL_TIMEOUT) -> str:
    """Runs `command` and returns what it printed, framed by markers typed in two halves so the
    echoed command line never matches. Raises Broken if the connection ends, NoAnswer on timeout."""
    tag = uuid.uuid4().hex[:8]
    begin, end = f"sk-begin-{tag}", f"sk-end-{tag}"
    start = len(term.screen)
    term.type(f'echo "{begin[:4]}""{begin[4:]}"; {command}\recho "{end[:4]}""{end[4:]}"\r')
    pattern = re.compile(re.escape(begin) + r'(?!")(.*?)' + re.escape(end) + r'(?!")', re.S)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(ANSI.sub("", term.text_since(start)).replace("\r", ""))
        if found:
            return found.group(1)
        if term.closed.is_set():
            raise Broken(f"connection ended (close code {term.close_code}, notices {term.notices[-2:]})")
        time.sleep(0.1)
    raise NoAnswer(f"no answer to {command[:60]!r} within {timeout:.0f} s")


def wait_for_prompt(term: Client, timeout: float = SHELL_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while PROMPT not in term.text():
        if term.closed.is_set():
            raise Broken(f"connection ended before the prompt (close code {term.close_code}, notices {term.notices[-2:]})")
        if time.monotonic() > deadline:
            raise NoAnswer(f"no prompt within {timeout:.0f} s")
        time.sleep(0.1)


def read_back(term: Client, files: list[Written]) -> list[Written]:
    """Reads the files in the live workspace through the shell; returns the ones missing or changed.
    `grep -H .` prints `NAME:CONTENT`, which the typed command line never contains."""
    if not files:
        shell(term, "true")
        return []
    output = shell(term, "grep -H . " + " ".join(f"~/{f.name}" for f in files) + " 2>&1")
    return [f for f in files if f"{f.name}:{f.token}" not in output]


def missing_from_listing(listing: dict[str, dict], files: list[Written]) -> list[Written]:
    """The files absent from a snapshot's top folder, or there with another size (every token has
    its own length, so a size is close to a fingerprint)."""
    return [f for f in files if f.name not in listing or listing[f.name].get("size") != f.size]


class Soak:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.grace = seconds(options.grace)
        self.heartbeat = seconds(options.heartbeat)
        self.tally = Tally()
        self.sessions: list[Tracked] = []
        self.sessions_lock = threading.Lock()
        self.numbers = itertools.count(1)
        self.stop = threading.Event()
        self.up = threading.Event()  # the server answers (cleared across the kill -9)
        self.generation = 0  # bumped by each restart
        self.times: dict[str, float] = {}
        self.rss: dict[str, dict] = {}
        self.slirp_seen: dict[int, str] = {}  # pid -> start time, every slirp4netns of the run
        self.outputs: list[str] = []
        self.moto: MotoServer | None = None
        self.relay: Relay | None = None
        self.server: Server | None = None
        self.users: list[User] = []

    # Set-up

    def server_args(self) -> dict:
        extra = ("--backup-repository", f"s3:http://127.0.0.1:{self.relay.port}/{BUCKET}/holdfast",
                 "--backup-timeout", "20s")
        return {"heartbeat": self.options.heartbeat, "grace": self.options.grace, "extra": extra}

    def start(self) -> None:
        self.moto = MotoServer()
        self.moto.create_bucket(BUCKET)
        self.relay = LinkRelay(self.moto.port)  # the S3 link that gets cut
        os.environ.update(CREDENTIALS)  # Server's Popen inherits them
        self.server = Server(**self.server_args())
        self.up.set()
        count = max(1, math.ceil(self.options.sessions / SLOTS_PER_USER))
        with ThreadPoolExecutor(4) as pool:
            self.users = list(pool.map(self.create_user, range(count)))
        print(f"server {self.server.url} ({self.server.binary}), data {self.server.data_dir}; "
              f"S3 via relay :{self.relay.port} -> moto :{self.moto.port}; {count} users", flush=True)

    def create_user(self, index: int) -> User:
        email = f"soak{index}@bench.test"
        self.server.cli("admin", "create-user", "--tenant", "bench", "--email", email, "--password", PASSWORD,
                        "--role", "member")
        http = requests.Session()
        http.headers["Authorization"] = "Bearer " + self.server.login(email, PASSWORD)
        return User(email, http)

    # HTTP through restarts

    def api(self, user: User, method: str, path: str, **kwargs) -> requests.Response:
        """One API call; waits out a server restart (connection refused) and tries again."""
        deadline = time.monotonic() + 300
        while True:
            self.up.wait(timeout=300)
            try:
                return user.http.request(method, self.server.url + path, timeout=60, **kwargs)
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def state_of(self, s: Tracked) -> dict:
        response = self.api(s.user, "GET", f"/api/v1/sessions/{s.id}")
        response.raise_for_status()
        return response.json()

    def events_of(self, s: Tracked) -> list[dict]:
        response = self.api(s.user, "GET", f"/api/v1/sessions/{s.id}/events")
        response.raise_for_status()
        return response.json()

    def disrupted(self, generation: int) -> bool:
        return generation != self.generation or not self.up.is_set()

    # Sessions

    def open_new(self, user: User) -> Tracked | None:
        """POST /sessions, retrying while the user is at the limit (their earlier sessions still closing)."""
        while not self.stop.is_set():
            response = self.api(user, "POST", "/api/v1/sessions", json={"kind": "terminal"})
            if response.status_code == 201:
                s = Tracked(response.json()["id"], user)
                with self.sessions_lock:
                    self.sessions.append(s)
                self.tally.count("starts")
                return s
            self.tally.count(f"start refused {response.status_code}")
            if response.status_code not in (409, 503):
                self.tally.incident("start failed", f"{user.email}: {response.status_code} {response.text[:200]}")
            self.stop.wait(5)
        return None

    def attach(self, s: Tracked, via_relay: bool) -> Client:
        """A ticket and a WebSocket; through a relay of its own when the link is to go silent later."""
        response = self.api(s.user, "POST", f"/api/v1/sessions/{s.id}/tickets")
        if response.status_code != 201:
            raise Broken(f"ticket refused: {response.status_code} {response.text[:200]}")
        relay = LinkRelay(int(self.server.url.rsplit(":", 1)[1])) if via_relay else None
        try:
            term = Client(self.server.url, s.id, response.json()["ticket"], cols=120, rows=40,
                          via=relay.url if relay else None)
        except Exception as error:
            self.discard_relay(relay)
            raise Broken(f"attach failed: {error}") from error
        term.relay = relay
        return term

    @staticmethod
    def discard_relay(relay: Relay | None) -> None:
        if relay is not None:
            relay.cut()  # resets both sides and wakes the pumps blocked in recv
            relay.silent.clear()  # the pumps holding bytes let go (into closed sockets)
            relay.close()

    def discard(self, term: Client | None) -> None:
        if term is None:
            return
        if term.relay is None:
            term.close()
        self.discard_relay(term.relay)

    def write_file(self, s: Tracked, term: Client) -> None:
        n = next(self.numbers)
        written = Written(f"soak-{n}.txt", secrets.token_hex(random.randint(4, 20)), s.id)
        output = shell(term, f'echo {written.token} > ~/{written.name} && sync ~/{written.name} && echo "wr""ote-{n}:ok"')
        if f"wrote-{n}:ok" not in output:
            self.tally.incident("write not confirmed", f"{s.id} {written.name}: {output.strip()[-200:]!r}")
            return
        s.files.append(written)
        s.user.files.append(written)
        self.tally.count("files written")

    def disrupt(self, s: Tracked, term: Client, action: str) -> None:
        s.disconnects.append((action, time.time()))
        self.tally.count(f"disruptions: {action}")
        try:
            if action == "detach":
                term.close()  # a WebSocket close frame
            elif action == "silent":
                term.relay.silent.set()  # nothing crosses; no FIN, no RST
            else:
                term.drop()  # drop and expire: TCP reset, SO_LINGER 0
        except OSError:
            pass  # the connection was gone already

    def leave_to_expire(self, s: Tracked) -> None:
        s.end, s.ended_at = "expire", time.time()
        self.tally.count("left to expire")
        threading.Thread(target=self.watch_deadline, args=(s,), daemon=True).start()

    def watch_deadline(self, s: Tracked) -> None:
        """Reads the session's expiresAt until just before it passes: the figure lateness is measured from."""
        unheld_since = time.monotonic()
        while True:
            state = self.state_of(s)
            if state["state"] in ("closing", "closed"):
                return
            if state.get("expiresAt"):
                s.expires_at = parse_time(state["expiresAt"])
                remaining = s.expires_at - time.time()
                if remaining <= 1.5:
                    return
                time.sleep(min(remaining - 1.2, 10))
                continue
            if time.monotonic() - unheld_since > 30:
                self.tally.incident("not held", f"{s.id} still {state['state']} 30 s after its client left")
                return
            time.sleep(0.5)

    def lose(self, s: Tracked, term: Client | None, why: str) -> None:
        """A resume within grace failed: counted, and the session is left to close on its own."""
        s.lost = why
        self.tally.incident("lost within grace", f"{s.id}: {why}")
        self.discard(term)
        self.leave_to_expire(s)

    def promised(self, s: Tracked) -> float:
        """The deadline the user was promised: grace from the last traffic, which is at worst one
        heartbeat before the disconnection (pongs), and after a kill -9 the stored, staler one:
        for a connection the restart cut, and for one dropped or gone silent so shortly before the
        kill that the server may not have recorded the loss yet (a silent link takes ~3 heartbeats)."""
        kind, when = s.disconnects[-1] if s.disconnects else ("", time.time())
        killed = self.times.get("killed")
        unrecorded = killed is not None and when <= killed <= when + 3 * self.heartbeat + 1
        return when - self.heartbeat + self.grace - (PERSIST_SLACK if kind == "restart" or unrecorded else 0)

    def resume(self, s: Tracked, via_relay: bool) -> Client | None:
        """Re-attaches within grace and reads the session's files back; None if the session was lost
        (counted) or the promised deadline is too close to try (not counted)."""
        for _ in range(5):
            self.up.wait()
            generation = self.generation
            state = self.state_of(s)
            attempt, promised = time.time(), self.promised(s)
            if state.get("expiresAt") and parse_time(state["expiresAt"]) < promised - 1:
                self.tally.incident("deadline earlier than promised",
                                    f"{s.id}: expiresAt {state['expiresAt']}, promised {clock(promised)}")
            if attempt > promised - RESUME_MARGIN:
                self.tally.count("resumes skipped: too close to the deadline")
                self.leave_to_expire(s)
                return None
            if state["state"] in ("closing", "closed"):
                return self.lose(s, None, f"{state['state']} (closeReason {state['closeReason']}) "
                                          f"{promised - attempt:.0f} s before its deadline; {self.last_events(s)}")
            term = None
            try:
                term = self.attach(s, via_relay)
                files = s.files[-READ_BACK:]
                missing = read_back(term, files)
            except (Broken, NoAnswer) as error:
                self.discard(term)
                if self.disrupted(generation):
                    continue  # the server restarted under the resume: try again
                return self.lose(s, None, f"{type(error).__name__}: {error}; {self.last_events(s)}")
            self.tally.count("resumes")
            self.tally.count("files read back on resume", len(files))
            for f in missing:
                self.tally.incident("missing from the live workspace", f"{s.id} {f.name} (written by {f.session_id})")
            return term
        self.lose(s, None, "five resumes in a row disrupted by restarts")
        return None

    def last_events(self, s: Tracked) -> list:
        return [(e["type"], e["at"][11:23], e["detail"][:90]) for e in self.events_of(s)[-4:]]

    def check_user_files(self, s: Tracked, term: Client, rng: random.Random) -> None:
        """From a new session, reads back a few files the user's other sessions wrote."""
        earlier = [f for f in list(s.user.files) if f.session_id != s.id]
        sample = rng.sample(earlier, min(3, len(earlier)))
        for f in read_back(term, sample):
            self.tally.incident("missing from the live workspace", f"{f.name} of {f.session_id}, read from new session {s.id}")
        self.tally.count("files read back from a new session", len(sample))

    # One slot: a session after another, disrupted over and over

    def slot(self, index: int, user: User, start_at: float) -> None:
        rng = random.Random(self.options.seed * 100_003 + index)
        self.stop.wait(max(0.0, start_at - time.monotonic()))
        try:
            while not self.stop.is_set():
                self.one_session(user, rng)
        except Exception:  # a bug of the soak itself: say so, do not hide it
            self.tally.incident("slot crashed", f"slot {index}: {traceback.format_exc(limit=4)}")

    @staticmethod
    def pick(rng: random.Random) -> str:
        return rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]

    def one_session(self, user: User, rng: random.Random) -> None:
        """Starts a session and churns it until it is left to expire, lost, or the soak ends."""
        s = self.open_new(user)
        if s is None:
            return
        action = self.pick(rng)
        term = self.first_attach(s, action == "silent", rng)
        while term is not None:
            if action == "silent" and term.relay is None:
                action = "drop"  # a terminal recovered after a failure is attached directly
            generation = self.generation
            try:
                self.write_file(s, term)
                if self.dwell(term, rng.uniform(*DWELL)) and not term.closed.is_set():
                    s.end, s.term = "delete", term  # still attached: closed with DELETE at the end
                    return
                if term.closed.is_set():
                    raise Broken(f"the connection ended while attached (close code {term.close_code}, notices {term.notices[-2:]})")
                self.disrupt(s, term, action)
                if action == "expire":
                    self.discard(term)
                    self.leave_to_expire(s)
                    return
                pause = rng.uniform(1.0, self.grace / 2)
                if action == "silent":
                    pause = max(pause, 3 * self.heartbeat + 1)  # the server must notice the silence first
                if self.stop.wait(pause):
                    self.discard(term)
                    self.leave_to_expire(s)
                    return
                self.discard(term)
                action = self.pick(rng)
                term = self.resume(s, via_relay=action == "silent")
            except (Broken, NoAnswer, OSError, requests.RequestException) as error:
                term = self.recover(s, term, generation, error)

    def dwell(self, term: Client, seconds: float) -> bool:
        """Stays attached for `seconds`, or less if the connection ends (a viewer reconnects at once);
        True if the soak is stopping."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not term.closed.is_set():
            if self.stop.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
                return True
        return self.stop.is_set()

    def first_attach(self, s: Tracked, via_relay: bool, rng: random.Random) -> Client | None:
        generation = self.generation
        term = None
        try:
            term = self.attach(s, via_relay)
            wait_for_prompt(term)
            self.check_user_files(s, term, rng)
            return term
        except (Broken, NoAnswer, OSError, requests.RequestException) as error:
            return self.recover(s, term, generation, error)

    def recover(self, s: Tracked, term: Client | None, generation: int, error: Exception) -> Client | None:
        """A write or a first attach failed. A restart takes every connection with it; anything else
        the server did to a live connection is an incident. Then the client reconnects, as a viewer would."""
        if self.disrupted(generation):
            self.tally.count("connections cut by the restart")
            s.disconnects.append(("restart", self.times.get("killed", time.time())))
        else:
            ended = (term.ended_at if term else None) or time.time()
            s.disconnects.append(("failure", ended))
            self.tally.incident("connection failed outside a resume",
                                f"{s.id}: {type(error).__name__}: {error}; ended {clock(ended)}; {self.last_events(s)}")
        self.discard(term)
        s.recoveries += 1
        if self.stop.is_set() or s.recoveries > 5:
            self.leave_to_expire(s)
            return None
        return self.resume(s, via_relay=False)

    # The disturbances

    def cut_s3(self) -> None:
        self.times["s3_cut"] = time.time()
        self.relay.cut()
        print(f"{clock(time.time())} S3 cut (relay refuses and resets)", flush=True)

    def restore_s3(self) -> None:
        self.relay.restore()
        self.times["s3_restored"] = time.time()
        print(f"{clock(time.time())} S3 restored", flush=True)

    def crash_and_restart(self) -> None:
        """kill -9 the server, start it again on the same data, sign in again if the tokens died."""
        self.rss["before_kill"] = rss_mib(self.server.process.pid)
        self.up.clear()
        self.times["killed"] = time.time()
        self.outputs += self.server.output
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait()
        self.server = Server(**self.server_args(), data_dir=self.server.data_dir, member=False)
        self.times["restarted"] = time.time()
        self.generation += 1
        probe = self.users[0].http.get(f"{self.server.url}/api/v1/auth/me", timeout=60)
        self.times["tokens_survived_restart"] = probe.status_code == 200
        if probe.status_code != 200:
            for user in self.users:
                user.http.headers["Authorization"] = "Bearer " + self.server.login(user.email, PASSWORD)
        self.up.set()
        print(f"{clock(time.time())} server killed and back after {self.times['restarted'] - self.times['killed']:.1f} s "
              f"({self.server.url}); tokens survived: {self.times['tokens_survived_restart']}", flush=True)

    def sample_slirp(self) -> None:
        """Records every session's slirp4netns (pid and start time), to find leaked ones at the end."""
        for pid_file in (self.server.data_dir / "sessions").glob("*/slirp.pid"):
            try:
                pid, start = pid_file.read_text().split()
                self.slirp_seen[int(pid)] = start
            except (OSError, ValueError):
                pass

    # The run

    def churn(self) -> None:
        """Starts the slots gradually, runs the outage and the kill on schedule, then stops the churn."""
        duration = self.options.minutes * 60
        ramp = min(120.0, duration * 0.2)  # 200 starts (and a quota volume per user) in 2 minutes
        began = time.monotonic()
        self.times["churn_started"] = time.time()
        cut_at = duration * 0.25
        schedule = [(cut_at, self.cut_s3), (cut_at + self.options.outage, self.restore_s3),
                    (max(duration * 0.75, cut_at + self.options.outage + 10), self.crash_and_restart)]
        slots = []
        for index in range(self.options.sessions):
            user = self.users[index // SLOTS_PER_USER]
            start_at = began + ramp * index / self.options.sessions
            thread = threading.Thread(target=self.slot, args=(index, user, start_at), name=f"slot-{index}", daemon=True)
            thread.start()
            slots.append(thread)
        print(f"{clock(time.time())} {self.options.sessions} slots starting over {ramp:.0f} s; churn for "
              f"{duration:.0f} s", flush=True)
        next_progress = 0.0
        while time.monotonic() - began < duration:
            elapsed = time.monotonic() - began
            while schedule and elapsed >= schedule[0][0]:
                schedule.pop(0)[1]()
            if self.up.is_set() and self.server.process.poll() is not None:
                log = "".join(self.server.output[-20:])[-1500:]
                raise RuntimeError(f"the server died on its own (exit {self.server.process.returncode}; see dmesg): {log}")
            if "after_ramp" not in self.rss and elapsed > ramp + 5:
                self.rss["after_ramp"] = rss_mib(self.server.process.pid)
            if elapsed >= next_progress:
                self.progress()
                next_progress += 30
            self.sample_slirp()
            time.sleep(1)
        for _, step in schedule:  # a run too short for them: do them now, in order
            step()
        self.stop.set()
        self.times["churn_stopped"] = time.time()
        print(f"{clock(time.time())} churn stopped; waiting for the slots", flush=True)
        for thread in slots:
            thread.join(timeout=120)
            if thread.is_alive():
                self.tally.incident("slot did not stop", thread.name)

    def progress(self) -> None:
        live = sum(1 for s in self.sessions if s.end is None)
        counts = self.tally.counts
        print(f"{clock(time.time())} live {live}, started {counts.get('starts', 0)}, resumes {counts.get('resumes', 0)}, "
              f"left to expire {counts.get('left to expire', 0)}, files {counts.get('files written', 0)}, "
              f"lost {len(self.tally.listed('lost within grace'))}, load {loadavg()}", flush=True)

    # The end

    def close_due(self, since: float) -> float:
        """When a session whose close became due at `since` must be closed: the allowance, counted
        from the S3 restore or the restart instead when the store or the server was down meanwhile."""
        allowance = self.options.close_allowance
        start = since
        for down, back in (("s3_cut", "s3_restored"), ("killed", "restarted")):
            if down in self.times and since + allowance > self.times[down] and since < self.times[back]:
                start = max(start, self.times[back])
        return start + allowance

    def due(self, s: Tracked) -> float:
        if s.end == "expire":
            return self.close_due(s.expires_at or s.ended_at)
        return s.ended_at + self.options.close_allowance

    def wait_closed(self, group: list[Tracked]) -> None:
        """Polls each session until it is closed or 30 s past when it was due."""
        pending = list(group)
        while pending:
            pending = [s for s in pending if self.state_of(s)["state"] != "closed" and time.time() < self.due(s) + 30]
            print(f"{clock(time.time())} {len(group) - len(pending)} of {len(group)} closed", flush=True)
            if pending:
                time.sleep(5)

    def finish(self) -> None:
        """Waits for every session left to expire, then closes the rest with DELETE and waits for those."""
        self.sample_slirp()
        expiring = [s for s in self.sessions if s.end == "expire"]
        print(f"{clock(time.time())} waiting for the {len(expiring)} sessions left to expire", flush=True)
        self.wait_closed(expiring)
        rest = [s for s in self.sessions if s.end != "expire"]
        for s in rest:
            if s.end is None:
                self.tally.incident("session of no slot", f"{s.id} was neither left to expire nor attached at the end")
            s.end, s.ended_at = "delete", time.time()
            response = self.api(s.user, "DELETE", f"/api/v1/sessions/{s.id}")
            if response.status_code not in (200, 202):
                self.tally.incident("delete refused", f"{s.id}: {response.status_code} {response.text[:200]}")
        print(f"{clock(time.time())} {len(rest)} attached sessions closed with DELETE", flush=True)
        self.wait_closed(rest)
        for s in rest:
            self.discard(s.term)

    # Evaluation

    def evaluate(self) -> dict:
        """Reads every session's timeline: expiry lateness, closes in time, loss notices, final snapshots."""
        found = {"lateness": [], "lateness_while_down": [], "close": {"expire": [], "delete": []}, "notice": {}}
        finals: dict[str, str | None] = {}
        for s in self.sessions:
            events = self.events_of(s)
            finals[s.id] = self.final_snapshot(events)
            self.judge_close(s, events, found)
        found["files"] = self.check_snapshots(finals)
        return found

    def judge_close(self, s: Tracked, events: list[dict], found: dict) -> None:
        at = {kind: [parse_time(e["at"]) for e in events if e["type"] == kind] for kind in ("expired", "closed", "lost")}
        closed = at["closed"][0] if at["closed"] else None
        self.loss_notice(s, at["lost"], found["notice"])
        last = [(e["type"], e["at"][11:23], e["detail"][:90]) for e in events[-3:]]
        if s.end == "expire" and s.lost is None:
            if not at["expired"]:
                self.tally.incident("left to expire, closed otherwise", f"{s.id}: {last}")
            elif s.expires_at is None:
                self.tally.count("expired with no expiresAt read before")
            elif self.times.get("killed", math.inf) <= s.expires_at <= self.times.get("restarted", 0):
                found["lateness_while_down"].append(at["expired"][0] - s.expires_at)  # nobody to expire it
            else:
                found["lateness"].append(at["expired"][0] - s.expires_at)
        due = self.due(s)
        if closed is None or closed > due:
            self.tally.incident("not closed in time", f"{s.id} ({s.end}): due {clock(due)}, closed {clock(closed)}; {last}")
        if closed is not None:
            since = (s.expires_at or s.ended_at) if s.end == "expire" else s.ended_at
            found["close"][s.end].append(closed - since)

    @staticmethod
    def final_snapshot(events: list[dict]) -> str | None:
        """The short id of the verified final snapshot: the last `snapshot` before `closed`."""
        final = None
        for event in events:
            if event["type"] == "snapshot":
                found = re.match(r"snapshot ([0-9a-f]{8,})", event["detail"])
                final = found.group(1) if found else final
            if event["type"] == "closed":
                return final
        return None

    @staticmethod
    def loss_notice(s: Tracked, lost: list[float], notice: dict[str, list[float]]) -> None:
        """How long after each reset or silence the server recorded `lost` (before the next disruption)."""
        marks = sorted(s.disconnects, key=lambda mark: mark[1]) + [("", math.inf)]
        for (kind, when), (_, following) in zip(marks, marks[1:]):
            after = [t - when for t in lost if when - 0.05 <= t < following]
            if after and kind != "detach":
                notice.setdefault("silent" if kind == "silent" else "reset", []).append(min(after))

    def listing(self, user: User, snapshot: str) -> dict[str, dict] | None:
        """The top folder of one snapshot, read through the API as its owner; None if refused."""
        response = self.api(user, "GET", f"/api/v1/workspace/snapshots/{snapshot}/files", params={"path": ""})
        if response.status_code != 200:
            self.tally.incident("snapshot listing refused", f"{snapshot}: {response.status_code} {response.text[:300]}")
            return None
        return {entry["name"]: entry for entry in response.json()["items"]}

    def listings(self, checks: list) -> list[dict[str, dict] | None]:
        """Lists every snapshot, four at a time as several users browsing would; a refused one is
        asked again, alone, up to three times (a refusal is reported, and is not a missing file)."""
        with ThreadPoolExecutor(4) as pool:
            found = list(pool.map(lambda check: self.listing(check[1], check[2]) if check[2] else None, checks))
        for index, check in enumerate(checks):
            for _ in range(3):
                if found[index] is not None or check[2] is None:
                    break
                self.tally.count("snapshot listings retried alone")
                found[index] = self.listing(check[1], check[2])
        return found

    def check_snapshots(self, finals: dict[str, str | None]) -> dict:
        """Each file in its session's final snapshot, and every file of a user in the user's newest."""
        checks: list[tuple[str, User, str | None, list[Written], str]] = []
        for s in self.sessions:
            if s.files:
                checks.append(("session_final", s.user, finals.get(s.id), s.files, f"session {s.id}"))
        for user in self.users:
            if user.files:
                response = self.api(user, "GET", "/api/v1/workspace/snapshots")
                items = response.json()["items"] if response.status_code == 200 else []
                checks.append(("user_newest", user, items[0]["id"][:12] if items else None, user.files, user.email))
        listings = self.listings(checks)
        self.self_check(listings, checks)
        checked = {"session_final": 0, "user_newest": 0}
        missing = {"session_final": 0, "user_newest": 0}
        unreadable = 0
        for (kind, _, snapshot, files, owner), listing in zip(checks, listings):
            if snapshot is not None and listing is None:
                unreadable += len(files)
                self.tally.incident("snapshot never listed", f"{snapshot} ({owner}): {len(files)} files unchecked")
                continue
            gone = files if listing is None else missing_from_listing(listing, files)
            checked[kind] += len(files)
            missing[kind] += len(gone)
            for f in gone:
                self.tally.incident(f"missing from the snapshots ({kind})", f"{f.name} of {f.session_id} not in {snapshot} ({owner})")
        return {"checked": checked, "missing": missing, "unchecked_snapshot_unreadable": unreadable,
                "listings": len(listings), "listings_refused": len(self.tally.listed("snapshot listing refused"))}

    @staticmethod
    def self_check(listings: list, checks: list) -> None:
        """The snapshot check must be able to fail: a name never written and a wrong size are caught."""
        for listing, (_, _, _, files, _) in zip(listings, checks):
            if listing and files[0].name in listing:
                ghost = Written("soak-never-written.txt", "0" * 8, "-")
                wrong = Written(files[0].name, files[0].token + "00", files[0].session_id)
                if missing_from_listing(listing, [ghost, wrong]) != [ghost, wrong]:
                    raise SystemExit("the snapshot check cannot fail: it misses an absent file or a wrong size")
                return

    # Leaks and cleanup

    def leaks(self) -> dict:
        """After the clean stop: processes naming the sessions folder, processes still in a session's
        cgroup (the shells and tmux, which name no path), and slirp4netns still running."""
        data_dir = self.server.data_dir
        named = subprocess.run(["pgrep", "-af", f"{data_dir}/sessions"], capture_output=True, text=True).stdout.split("\n")
        anything = subprocess.run(["pgrep", "-af", str(data_dir)], capture_output=True, text=True).stdout.split("\n")
        in_cgroups = []
        for s in self.sessions:
            for root in ("/sys/fs/cgroup/pids/holdfast", "/sys/fs/cgroup/holdfast"):
                procs = Path(root, s.id, "cgroup.procs")
                if procs.exists():
                    in_cgroups += [f"{pid} (session {s.id}: {self.command_of(pid)})" for pid in procs.read_text().split()]
        slirp = [f"{pid} slirp4netns" for pid, start in self.slirp_seen.items() if self.start_time(pid) == start]
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if f" {data_dir}/" in line]
        return {"naming_sessions_folder": [line for line in named if line.strip()],
                "naming_data_dir": [line for line in anything if line.strip()],
                "in_session_cgroups": in_cgroups, "slirp4netns": slirp,
                "slirp4netns_seen": len(self.slirp_seen), "mounts_left": mounts}

    @staticmethod
    def command_of(pid: str) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return "?"

    @staticmethod
    def start_time(pid: int) -> str | None:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return None

    def cleanup(self, leaks: dict | None) -> None:
        """Ends what this run left (by pid, only processes of this run), unmounts, removes the data."""
        if self.server is not None:
            self.server.stop()
            pids = [line.split()[0] for line in (leaks or {}).get("naming_data_dir", [])]
            pids += [entry.split()[0] for key in ("in_session_cgroups", "slirp4netns") for entry in (leaks or {}).get(key, [])]
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            self.server.kill_leftovers()
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            for mountpoint in sorted((m for m in mounts if m.startswith(f"{self.server.data_dir}/")), key=len, reverse=True):
                subprocess.run(["umount", "-l", mountpoint], check=False)
            subprocess.run(["rm", "-rf", str(self.server.data_dir)], check=False)
        if self.relay is not None:
            self.relay.close()
        if self.moto is not None:
            self.moto.stop()


def figures(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 50), 2), "p99": round(percentile(values, 99), 2),
            "max": round(max(values), 2), "min": round(min(values), 2)}


def table(soak: Soak, found: dict, leaks: dict) -> list[tuple[str, str, str]]:
    tally, allowance = soak.tally, soak.options.close_allowance
    lost = len(tally.listed("lost within grace"))
    unclosed = tally.listed("not closed in time")
    files = found["files"]
    late = figures(found["lateness"])
    rss = {key: soak.rss.get(key, {}) for key in ("after_ramp", "before_kill", "end")}
    return [
        ("sessions lost within grace (a resume before expiresAt refused, or the shell silent)", "0",
         f"{lost} of {tally.get('resumes') + lost} resumes"),
        (f"sessions left to expire, not closed by expiresAt + {allowance:.0f} s (+ the outage, when it overlapped)", "0",
         f"{sum('(expire)' in line for line in unclosed)} of {sum(s.end == 'expire' for s in soak.sessions)}"),
        (f"sessions closed with DELETE at the end, not closed within {allowance:.0f} s", "0",
         f"{sum('(delete)' in line for line in unclosed)} of {sum(s.end == 'delete' for s in soak.sessions)}"),
        ("leaked processes after the clean stop: naming DATA/sessions + in a session's cgroup + slirp4netns", "0",
         f"{len(leaks['naming_sessions_folder'])} + {len(leaks['in_session_cgroups'])} + {len(leaks['slirp4netns'])}"),
        ("files missing from the live workspace (read back with grep on resume / from a new session)", "0",
         f"{len(tally.listed('missing from the live workspace'))} of "
         f"{tally.get('files read back on resume') + tally.get('files read back from a new session')} reads"),
        ("files missing from their session's final snapshot", "0",
         f"{files['missing']['session_final']} of {files['checked']['session_final']}"),
        ("files missing from their user's newest snapshot at the end", "0",
         f"{files['missing']['user_newest']} of {files['checked']['user_newest']}"),
        ("snapshot listings refused (503), 4 at a time, then alone / files left unchecked", "0 / 0",
         f"{files['listings_refused']} of {files['listings']} / {files['unchecked_snapshot_unreadable']}"),
        ("expiry lateness: `expired` event - expiresAt read just before (server up)", "max <= 1.5 s",
         f"p50 {late.get('p50')}, p99 {late.get('p99')}, max {late.get('max')} s (n {late['n']})"),
        ("server RSS, MiB: after the ramp / before the kill / at the end (restarted process)", "-",
         f"{rss['after_ramp'].get('VmRSS')} / {rss['before_kill'].get('VmRSS')} / {rss['end'].get('VmRSS')} "
         f"(peaks {rss['before_kill'].get('VmHWM')}, {rss['end'].get('VmHWM')})"),
    ]


def report(soak: Soak, found: dict, leaks: dict, exit_code: int | None) -> dict:
    """Prints the table and the context, saves bench/results/soak.json, returns the failures."""
    tally, options = soak.tally, soak.options
    rows = table(soak, found, leaks)
    print("\n| measure | target | measured |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    closes = {kind: figures(values) for kind, values in found["close"].items()}
    notice = {kind: figures(values) for kind, values in found["notice"].items()}
    print(f"\nclosed after expiresAt: {closes['expire']}; after DELETE: {closes['delete']}")
    print(f"expiries whose deadline fell while the server was down: {figures(found['lateness_while_down'])}")
    print(f"`lost` recorded after a reset / a silent link: {notice}")
    print(f"counts: {json.dumps(tally.counts, sort_keys=True)}")
    print(f"times: {({k: clock(v) if isinstance(v, float) else v for k, v in soak.times.items()})}")
    print(f"after the stop: {len(leaks['mounts_left'])} mounts left under the data directory (workspace quota volumes stay mounted for the users' next sessions); "
          f"processes naming it: {leaks['naming_data_dir']}; load {loadavg()}")
    failures = {
        "lost_within_grace": len(tally.listed("lost within grace")),
        "not_closed_in_time": len(tally.listed("not closed in time")),
        "leaked_processes": len(leaks["naming_sessions_folder"]) + len(leaks["in_session_cgroups"]) + len(leaks["slirp4netns"]),
        "missing_live": len(tally.listed("missing from the live workspace")),
        "missing_snapshots": sum(found["files"]["missing"].values()),
        "unchecked_files": found["files"]["unchecked_snapshot_unreadable"],
        "slot_crashes": len(tally.listed("slot crashed")),
    }
    result = {
        "parameters": {"sessions": options.sessions, "minutes": options.minutes, "grace": options.grace,
                       "heartbeat": options.heartbeat, "outage_s": options.outage,
                       "close_allowance_s": options.close_allowance, "seed": options.seed,
                       "users": len(soak.users), "binary": str(soak.server.binary)},
        "table": [{"measure": m, "target": t, "measured": v} for m, t, v in rows],
        "failures": failures,
        "files": found["files"],
        "expiry_lateness_s": figures(found["lateness"]),
        "expiry_lateness_deadline_while_down_s": figures(found["lateness_while_down"]),
        "close_s": closes, "lost_recorded_after_s": notice, "rss_mib": soak.rss,
        "times": {k: clock(v) if isinstance(v, float) else v for k, v in soak.times.items()},
        "counts": tally.counts, "incidents": {k: v[:50] for k, v in tally.incidents.items()},
        "leaks": leaks, "server_exit": exit_code,
        "server_log_warnings": [line.strip() for line in soak.outputs + soak.server.output
                                if re.search(r"warning|error|critical", line, re.I)][:100],
    }
    path = write_result("soak", result)
    print(f"saved {path.relative_to(ROOT)}")
    return failures


def seconds(text: str) -> float:
    """`60s`, `2m` or `90` as seconds."""
    value = text.strip()
    if value.endswith("m"):
        return float(value[:-1]) * 60
    return float(value.rstrip("s"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10, help="minutes of churn (the end adds grace + closes)")
    parser.add_argument("--grace", default="60s")
    parser.add_argument("--heartbeat", default="5s",
                        help="the server's heartbeat; shorter makes 200 clients in one Python process miss pongs")
    parser.add_argument("--outage", type=float, default=60, help="seconds the S3 link stays cut")
    parser.add_argument("--close-allowance", type=float, default=120,
                        help="seconds after its deadline (or its DELETE) by which a session must be closed")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    random.seed(options.seed)
    # SIGTERM (a timeout, pkill) ends the run through its cleanup: the sessions, their sandboxes
    # and the workspace volumes of a run left behind would skew the next one.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    soak = Soak(options)
    leaks = None
    failures = {"run": "did not finish"}
    try:
        soak.start()
        soak.churn()
        soak.finish()
        found = soak.evaluate()
        soak.rss["end"] = rss_mib(soak.server.process.pid)
        exit_code = soak.server.stop()
        time.sleep(1)
        leaks = soak.leaks()
        failures = report(soak, found, leaks, exit_code)
    finally:
        soak.cleanup(leaks)
    failed = {name: count for name, count in failures.items() if count}
    print("soak: " + ("FAILED " + json.dumps(failed) if failed else "nothing lost, nothing leaked"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
