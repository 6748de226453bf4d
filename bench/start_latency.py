"""Terminal session start to first byte: POST /sessions -> ticket -> attach -> first byte.

Against the real release binary (tmux in bubblewrap). For each of N new sessions the clock
runs from the POST /sessions request to the first binary frame on the attach WebSocket; the
split shows where the time goes: the POST alone (sandbox + tmux launch), the ticket, and the
attach (handshake to the first byte). Target: <= 100 ms.

    .venv/bin/python bench/start_latency.py [--sessions 50]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, loadavg, rss_mib, summary, write_result  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3, help="untimed starts first (page cache, first uid)")
    args = parser.parse_args()

    server = Server(heartbeat="10s", grace="30m")
    result: dict = {"benchmark": "start_latency", "sessions": args.sessions,
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "loadavg_at_start": loadavg()}
    try:
        total, post, ticket, attach = [], [], [], []
        # A user may hold five live sessions: four each, spread over enough members.
        members = server.add_members((args.warmup + args.sessions + 3) // 4)
        for i in range(args.warmup + args.sessions):
            t0 = time.perf_counter()
            session_id = server.start_session(members[i // 4])
            t1 = time.perf_counter()
            ticket_text = server.ticket(session_id)
            t2 = time.perf_counter()
            _, first_byte_ms, ws = server.timed_attach(session_id, ticket_text)
            ws.close()
            if i < args.warmup:
                continue
            post.append((t1 - t0) * 1000)
            ticket.append((t2 - t1) * 1000)
            attach.append(first_byte_ms)
            total.append((t1 - t0) * 1000 + (t2 - t1) * 1000 + first_byte_ms)
        result["start_to_first_byte_ms"] = summary(total)
        result["post_sessions_ms"] = summary(post)
        result["ticket_ms"] = summary(ticket)
        result["attach_to_first_byte_ms"] = summary(attach)
        result["rss_server_mib"] = rss_mib(server.process.pid)
        result["target_ms"] = 100
        result["target_met_p50"] = result["start_to_first_byte_ms"]["p50"] <= 100
        result["target_met_p99"] = result["start_to_first_byte_ms"]["p99"] <= 100
    finally:
        result["cleanup"] = server.cleanup()

    path = write_result("start_latency", result)
    t, p, k, a = (result[key] for key in ("start_to_first_byte_ms", "post_sessions_ms", "ticket_ms", "attach_to_first_byte_ms"))
    print(f"start to first byte over {t['n']} sessions: p50 {t['p50']} ms, p99 {t['p99']} ms, max {t['max']} ms "
          f"(target <= 100 ms: p50 {'met' if result['target_met_p50'] else 'MISSED'}, "
          f"p99 {'met' if result['target_met_p99'] else 'MISSED'})")
    print(f"  split (p50 / p99): POST /sessions {p['p50']} / {p['p99']} ms; ticket {k['p50']} / {k['p99']} ms; "
          f"attach to first byte {a['p50']} / {a['p99']} ms")
    print(f"  cleanup: {result['cleanup']}")
    print(f"  saved {path}")
    return 0 if not result["cleanup"]["leftover_processes_of_this_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
