"""Where a terminal start goes, step by step, from the server's own "session launched" lines.

`holdfast serve --log-level debug` logs every launch with the time of each step
(`took=files …, cgroups …, sandbox …, tmux server …, network …, window …`); this starts N
sessions over a few users (one new workspace volume per user), times each start from
`POST /sessions` to the first terminal byte, and prints the start's percentiles with the median
of every step. Unlike `start_phases.py` (strace) it does not slow what it measures.

    .venv/bin/python bench/launch_steps.py [--sessions 20] [--binary .build-release/release/holdfast]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BINARY, Server, loadavg, summary, write_result  # noqa: E402

STEP = re.compile(r"([a-z() ]+?) ([0-9.]+) ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--binary", type=Path, default=BINARY)
    args = parser.parse_args()
    server = Server(heartbeat="10s", grace="30m", binary=args.binary, extra=("--log-level", "debug"))
    result: dict = {"benchmark": "launch_steps", "sessions": args.sessions, "loadavg_at_start": loadavg()}
    try:
        # Four sessions per user: under the default cap of five live sessions each.
        members = server.add_members((args.sessions + 3) // 4)
        starts = []
        for index in range(args.sessions):
            t0 = time.perf_counter()
            session_id = server.start_session(members[index // 4])
            ticket = server.ticket(session_id)
            t1 = time.perf_counter()
            _, first, ws = server.timed_attach(session_id, ticket)
            ws.close()
            starts.append((t1 - t0) * 1000 + first)
            time.sleep(0.3)  # one start at a time, as a user makes them
        time.sleep(1)
        steps: dict[str, list[float]] = {}
        for line in "".join(server.output).splitlines():
            found = re.search(r"took=(.*?) \[HoldfastHost\] session launched", line)
            if found:
                for name, milliseconds in STEP.findall(found.group(1)):
                    steps.setdefault(name.strip(", "), []).append(float(milliseconds))
        result["start_ms"] = summary(starts)
        result["step_median_ms"] = {name: round(statistics.median(values), 1) for name, values in steps.items()}
    finally:
        result["cleanup"] = server.cleanup()
    path = write_result("launch_steps", result)
    s = result["start_ms"]
    print(f"start (POST -> ticket -> first byte): p50 {s['p50']} / p90 {s['p90']} / p99 {s['p99']} ms over {s['n']}")
    print("median of each launch step: " + ", ".join(f"{k} {v} ms" for k, v in result["step_median_ms"].items()))
    print(f"  saved {path}")
    return 1 if result["cleanup"]["leftover_processes_of_this_run"] else 0


if __name__ == "__main__":
    sys.exit(main())
