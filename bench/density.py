"""Density: what an idle terminal session costs the host, and how the API answers with many.

Starts `--sessions` terminal sessions (default 500; spread over members, since a user may hold
only a few), attaches to each once so its shell is up, detaches politely, and extends nothing:
they sit held for the 30-minute grace. Then it reports

- the PSS of everything in the sessions' sandboxes (every process whose ancestry leads to a
  sandbox leader, plus each session's slirp4netns), summed and divided by the sessions: PSS
  shares the pages of tmux, bash and bwrap between sessions fairly, so the sum is what the host
  really spends (target: <= 8 MiB per session);
- the server's own RSS before and after, per session;
- API latency with them all held: `GET /api/v1/sessions/{id}` and `GET /api/v1/sessions` for
  members picked at random, 2,000 requests each from 8 threads (target: p99 <= 50 ms).

    .venv/bin/python bench/density.py [--sessions 500]

Results go to bench/results/density.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import random
import time
from pathlib import Path

import requests
import websocket

from common import ROOT, Server, pss_kib, rss_mib, summary


def process_table() -> dict[int, tuple[int, str]]:
    """Every process: its parent and command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (parent, command)
    return table


def sandbox_processes(data_dir: Path) -> list[int]:
    """The sandbox leaders of this server's sessions (their command line names the data
    directory's sessions folder), everything below them, and the sessions' slirp4netns."""
    table = process_table()
    sessions = str(data_dir / "sessions")
    roots = {pid for pid, (_, command) in table.items() if sessions in command}
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, (parent, _) in table.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found)


def warm_up(server: Server, session_id: str) -> None:
    """Attaches once (the shell draws its prompt), then leaves with a close frame."""
    ws = websocket.create_connection(server.attach_url(session_id, server.ticket(session_id)), timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        opcode, data = ws.recv_data(control_frame=False)
        if opcode == websocket.ABNF.OPCODE_BINARY and b"$" in data:
            break
    ws.close()


def timed(call) -> float:
    started = time.perf_counter()
    response = call()
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=500)
    options = parser.parse_args()

    server = Server(heartbeat="10s", grace="30m")
    report: dict = {"sessions": options.sessions}
    try:
        rss_before = rss_mib(server.process.pid)
        members = server.add_members((options.sessions + 3) // 4)
        started = time.monotonic()
        for index in range(options.sessions):
            session_id = server.start_session(members[index // 4])
            warm_up(server, session_id)
            if (index + 1) % 50 == 0:
                print(f"{index + 1} sessions up ({time.monotonic() - started:.0f} s)", flush=True)
        time.sleep(5)  # the detaches settle; every session is held and idle
        processes = sandbox_processes(server.data_dir)
        total_pss = sum(pss_kib(pid) for pid in processes)
        rss_after = rss_mib(server.process.pid)
        report["sandbox_processes"] = len(processes)
        report["pss_per_session_mib"] = round(total_pss / 1024 / options.sessions, 2)
        report["server_rss_mib"] = {"before": rss_before["VmRSS"], "after": rss_after["VmRSS"]}
        report["server_rss_per_session_kib"] = round((rss_after["VmRSS"] - rss_before["VmRSS"]) * 1024 / options.sessions, 1)

        ids = list(server.session_ids)

        def one_session() -> float:
            session_id = random.choice(ids)
            return timed(lambda: server.owner(session_id).get(f"{server.url}/api/v1/sessions/{session_id}", timeout=30))

        def one_list() -> float:
            member = random.choice(members)
            return timed(lambda: member.get(f"{server.url}/api/v1/sessions", timeout=30))

        for name, call in (("get_session_ms", one_session), ("list_sessions_ms", one_list)):
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                latencies = list(pool.map(lambda _: call(), range(2000)))
            report[name] = summary(latencies)
        states = {server.state(session_id)["state"] for session_id in random.sample(ids, min(20, len(ids)))}
        report["sampled_states"] = sorted(states)
    finally:
        report["cleanup"] = server.cleanup()
    print(json.dumps(report, indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "density.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
