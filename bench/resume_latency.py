"""Resume latency: a new WebSocket handshake to the first byte of the redrawn screen.

Against the real release binary (tmux in bubblewrap): 200 terminal sessions are started and
each is attached once and dropped, so all 200 are *held*; then 1,000 resumes of a random held
session. For each resume the attach ticket is fetched first (not timed); the clock runs from
the start of the WebSocket handshake (TCP connect included) to the first binary frame (tmux's
full redraw); the socket is then closed politely, and the session is held again before it can
be picked again. Target: p99 <= 20 ms.

    .venv/bin/python bench/resume_latency.py [--sessions 200] [--resumes 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import select
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BINARY, Server, loadavg, rss_mib, summary, write_result  # noqa: E402


def tmux_components(session_dir: Path, runs: int) -> dict:
    """Times, outside the server, the one process a resume spawns (see TmuxHost.attachTerminal):
    `holdfast-jail enter … tmux attach-session` on a fresh PTY up to its first output (the redraw),
    the client inside the session's sandbox as its user. Spawned from Python; the server spawns it
    with posix_spawn. Liveness is read from /proc and spawns nothing."""
    jail = BINARY.parent / "holdfast-jail"
    leader = int((session_dir / "sandbox.pid").read_text())
    inner = Path(f"/proc/{leader}/task/{leader}/children").read_text().split()[0]
    uid, gid = (session_dir / "account").read_text().strip().split(":")
    command = [str(jail), "enter", "--target", inner, "--uid", uid, "--gid", gid,
               "--seccomp", str(session_dir / "seccomp.bpf"), "--", "/usr/bin/tmux", "-N", "-S", "/run/holdfast/tmux.sock"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/user", "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    attach = []
    for _ in range(runs):
        master, slave = os.openpty()
        t0 = time.perf_counter()
        client = subprocess.Popen(command + ["-u", "attach-session", "-t", "main"],
                                  stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        ready, _, _ = select.select([master], [], [], 5)
        assert ready, "tmux attach printed nothing within 5 s"
        attach.append((time.perf_counter() - t0) * 1000)
        os.read(master, 65536)
        os.close(master)  # hang up: the client detaches, the session stays
        client.wait(timeout=5)
    return {"jailed_tmux_attach_to_first_output_ms": summary(attach)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--resumes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    server = Server(heartbeat="1s", grace="30m")
    result: dict = {"benchmark": "resume_latency", "sessions": args.sessions, "resumes": args.resumes,
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
                    "loadavg_at_start": loadavg(), "url": server.url}
    try:
        # 1. Start the sessions, attach each once and drop it: all held.
        setup_started = time.monotonic()
        # A user may hold five live sessions: four each, spread over enough members.
        members = server.add_members((args.sessions + 3) // 4)
        for index in range(args.sessions):
            server.start_session(members[index // 4])
        for session_id in server.session_ids:
            _, _, ws = server.timed_attach(session_id, server.ticket(session_id))
            ws.close()
        for session_id in server.session_ids:
            server.wait_for_state(session_id, "held")
        result["setup_seconds"] = round(time.monotonic() - setup_started, 1)
        print(f"{args.sessions} sessions held after {result['setup_seconds']} s", flush=True)

        # 2. The resumes. A session goes back into the pool only once it is held again, so every
        #    timed attach is a real resume (the timeline must show `resumed`, not `attached`).
        held = list(server.session_ids)
        cooling: collections.deque[str] = collections.deque()
        cooling_size = max(1, min(10, args.sessions // 4))
        handshake, first_byte, ticket_ms = [], [], []
        resumed_per_session: collections.Counter[str] = collections.Counter()
        for i in range(args.resumes):
            session_id = held.pop(rng.randrange(len(held)))
            t0 = time.perf_counter()
            ticket = server.ticket(session_id)
            ticket_ms.append((time.perf_counter() - t0) * 1000)
            upgraded, first, ws = server.timed_attach(session_id, ticket)
            handshake.append(upgraded)
            first_byte.append(first)
            resumed_per_session[session_id] += 1
            ws.close()  # a polite close frame: the session goes back to held
            cooling.append(session_id)
            # Let the previous few settle before they can be drawn again.
            while len(cooling) > cooling_size or not held:
                candidate = cooling.popleft()
                server.wait_for_state(candidate, "held")
                held.append(candidate)
            if (i + 1) % 200 == 0:
                print(f"  {i + 1} resumes, p50 so far {summary(first_byte)['p50']} ms", flush=True)
        for candidate in cooling:
            server.wait_for_state(candidate, "held")

        result["rss_server_mib_with_held_sessions"] = rss_mib(server.process.pid)
        result["handshake_ms"] = summary(handshake)
        result["resume_to_first_byte_ms"] = summary(first_byte)
        result["first_byte_after_handshake_ms"] = summary([f - h for f, h in zip(first_byte, handshake)])
        result["ticket_post_ms_untimed"] = summary(ticket_ms)

        # 3. The timeline agrees: exactly one `resumed` event per timed resume.
        resumed_events = 0
        for session_id in server.session_ids:
            events = server.events(session_id)
            count = sum(1 for event in events if event["type"] == "resumed")
            assert count == resumed_per_session[session_id], (session_id, count, resumed_per_session[session_id])
            resumed_events += count
        result["resumed_events_in_timelines"] = resumed_events

        # 4. Where the time goes: the two tmux processes of a resume, timed on their own.
        result["components"] = tmux_components(server.data_dir / "sessions" / server.session_ids[0], runs=100)
        result["target_p99_ms"] = 20
        result["target_met"] = result["resume_to_first_byte_ms"]["p99"] <= 20
    finally:
        result["cleanup"] = server.cleanup()

    path = write_result("resume_latency", result)
    r = result["resume_to_first_byte_ms"]
    print(f"resume latency over {r['n']} resumes of {args.sessions} held sessions: "
          f"p50 {r['p50']} ms, p90 {r['p90']} ms, p99 {r['p99']} ms, max {r['max']} ms "
          f"(target p99 <= 20 ms: {'met' if result['target_met'] else 'MISSED'})")
    print(f"  handshake alone p50 {result['handshake_ms']['p50']} ms; ticket POST (untimed) p50 "
          f"{result['ticket_post_ms_untimed']['p50']} ms; server RSS {result['rss_server_mib_with_held_sessions']}")
    c = result.get("components", {})
    if c:
        a = c["jailed_tmux_attach_to_first_output_ms"]
        print(f"  on its own (p50 / p99): holdfast-jail enter → tmux attach to first output {a['p50']} / {a['p99']} ms")
    print(f"  cleanup: {result['cleanup']}")
    print(f"  saved {path}")
    return 0 if not result["cleanup"]["leftover_processes_of_this_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
