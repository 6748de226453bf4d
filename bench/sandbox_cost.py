"""What the hardened sandbox costs: start, resume and idle memory, before and after, in one run.

Two real servers side by side on the same machine at the same time — `--before` (a build of the
commit before the sandbox issue: tmux clients outside the sandbox, no network namespace, no
cgroups, no seccomp) and `--after` (this tree: every tmux client through `holdfast-jail enter`,
slirp4netns per session, cgroups, seccomp, a quota volume). The measurements alternate between
the two, so the machine's noise (it is shared) lands on both alike; the ratios are the result.

- start: POST /sessions -> ticket -> attach -> first byte (target <= 100 ms);
- resume: a held session's WebSocket handshake -> first byte of tmux's redraw (target p99 <= 20 ms);
- idle memory: the PSS of every process of an idle session (bwrap, tmux, bash, the jail helper
  gone, slirp4netns included), from /proc/PID/smaps_rollup.

    .venv/bin/python bench/sandbox_cost.py --before /work/before/.build/release/holdfast \
        [--after .build-release/release/holdfast] [--sessions 20] [--resumes 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BINARY, Server, loadavg, pss_kib, summary, write_result  # noqa: E402


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found += [int(child) for child in text.split()]
    except OSError:
        pass
    return found


def tree(pid: int) -> list[int]:
    result = [pid]
    for child in children(pid):
        result += tree(child)
    return result


def session_pss_kib(server: Server, session_id: str) -> int:
    """Every process of one session: the sandbox's tree from its leader, and its slirp4netns."""
    folder = server.data_dir / "sessions" / session_id
    pids = tree(int((folder / "sandbox.pid").read_text()))
    slirp = folder / "slirp.pid"
    if slirp.exists():
        pids.append(int(slirp.read_text().split()[0]))  # "PID STARTTIME"
    return sum(pss_kib(pid) for pid in pids)


class Side:
    """One server with its members and their sessions."""

    def __init__(self, name: str, binary: Path, sessions: int):
        self.name = name
        self.server = Server(heartbeat="10s", grace="30m", binary=binary)
        # Four sessions per member: under the default cap of five live sessions per user.
        self.members = self.server.add_members((sessions + 3) // 4)
        self.start_ms: list[float] = []
        self.resume_ms: list[float] = []
        self.held: list[str] = []

    def timed_start(self, index: int) -> None:
        t0 = time.perf_counter()
        session_id = self.server.start_session(self.members[index // 4])
        ticket = self.server.ticket(session_id)
        t1 = time.perf_counter()
        _, first, ws = self.server.timed_attach(session_id, ticket)
        self.start_ms.append((t1 - t0) * 1000 + first)
        ws.close()
        self.held.append(session_id)

    def timed_resume(self, rng: random.Random) -> None:
        session_id = rng.choice(self.held)
        self.server.wait_for_state(session_id, "held")
        ticket = self.server.ticket(session_id)
        _, first, ws = self.server.timed_attach(session_id, ticket)
        self.resume_ms.append(first)
        ws.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="holdfast built from the commit before the issue")
    parser.add_argument("--after", type=Path, default=BINARY)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--resumes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    result: dict = {"benchmark": "sandbox_cost", "sessions": args.sessions, "resumes": args.resumes,
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "loadavg_at_start": loadavg(),
                    "before": str(args.before), "after": str(args.after)}
    sides = [Side("before", args.before, args.sessions), Side("after", args.after, args.sessions)]
    try:
        for index in range(args.sessions):
            for side in sides if index % 2 == 0 else reversed(sides):
                side.timed_start(index)
        time.sleep(2)  # every session idle and held
        for side in sides:
            values = [session_pss_kib(side.server, session_id) / 1024 for session_id in side.held]
            result[f"{side.name}_idle_session_pss_mib"] = {
                "median": round(statistics.median(values), 2), "max": round(max(values), 2)}
        for index in range(args.resumes):
            for side in sides if index % 2 == 0 else reversed(sides):
                side.timed_resume(rng)
        for side in sides:
            result[f"{side.name}_start_ms"] = summary(side.start_ms)
            result[f"{side.name}_resume_ms"] = summary(side.resume_ms)
        for metric in ("start_ms", "resume_ms"):
            for key in ("p50", "p99"):
                result[f"ratio_{metric}_{key}"] = round(result[f"after_{metric}"][key] / result[f"before_{metric}"][key], 2)
        result["ratio_idle_pss_median"] = round(
            result["after_idle_session_pss_mib"]["median"] / result["before_idle_session_pss_mib"]["median"], 2)
    finally:
        result["cleanup"] = {side.name: side.server.cleanup() for side in sides}

    path = write_result("sandbox_cost", result)
    for side in ("before", "after"):
        s, r, m = (result[f"{side}_{key}"] for key in ("start_ms", "resume_ms", "idle_session_pss_mib"))
        print(f"{side:6}: start p50 {s['p50']} / p99 {s['p99']} ms; resume p50 {r['p50']} / p99 {r['p99']} ms; "
              f"idle session PSS median {m['median']} MiB")
    print(f"after/before: start p50 x{result['ratio_start_ms_p50']}, p99 x{result['ratio_start_ms_p99']}; "
          f"resume p50 x{result['ratio_resume_ms_p50']}, p99 x{result['ratio_resume_ms_p99']}; "
          f"idle PSS x{result['ratio_idle_pss_median']}")
    print(f"  saved {path}")
    leftovers = [side for side, cleanup in result["cleanup"].items() if cleanup["leftover_processes_of_this_run"]]
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
