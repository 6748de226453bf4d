"""Where POST /sessions spends its time: the process launches of one session start, from strace.

Not part of `make bench`: strace slows every fork and exec (a POST takes about twice as long
under it), so read the *shares* of the phases, not their absolute milliseconds. It traces only
execve and exit_group (with seccomp-bpf) of the real server while N sessions are started one
after another, and splits each POST into:

  1 request to sandbox spawn: sign-in check, SQL insert, unix uid, workspace folder, session files
  2 bubblewrap: `setsid bwrap` exec to `setpriv` exec (namespaces, bind mounts)
  3 setpriv exec to `tmux -D` exec
  4 tmux server up: `tmux -D` exec to the `new-session` spawn (polled by `tmux start-server` every 10 ms)
  5 `tmux new-session -d` (spawn to exit)
  6 new-session exit to the HTTP response (SQL save of `started`, reply)

    .venv/bin/python bench/start_phases.py [--sessions 20]
"""

from __future__ import annotations

import argparse
import collections
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, summary, write_result  # noqa: E402

PHASES = [
    ("request_to_sandbox_spawn", r'execve\("/usr/bin/setsid", \["/usr/bin/setsid", "/usr/bin/bwrap"'),
    ("bwrap_setup", r'execve\("/usr/bin/setpriv"'),
    ("setpriv_to_tmux", r'execve\("/usr/bin/tmux", \["/usr/bin/tmux", "-S"'),
    ("tmux_server_up_and_polled", r'"new-session"'),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()

    server = Server(heartbeat="10s", grace="30m")
    log = Path(tempfile.mkdtemp(prefix="hfb-strace-")) / "strace.log"
    windows, posts = [], []
    try:
        # A user may hold five live sessions: four each, spread over enough members.
        members = server.add_members((3 + args.sessions + 3) // 4)
        for index in range(3):
            server.start_session(members[index // 4])  # warm-up, untraced
        tracer = subprocess.Popen(["strace", "-f", "--seccomp-bpf", "-ttt", "-s", "40", "-o", str(log),
                                   "-e", "trace=execve,exit_group", "-p", str(server.process.pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # strace attaches to every thread
        for index in range(3, 3 + args.sessions):
            wall, started = time.time(), time.perf_counter()
            server.start_session(members[index // 4])
            posts.append((time.perf_counter() - started) * 1000)
            windows.append((wall, time.time()))
            time.sleep(0.2)
        time.sleep(0.3)
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
    finally:
        cleanup = server.cleanup()

    events = []
    for line in log.read_text().splitlines():
        found = re.match(r"(\d+)\s+([\d.]+) (.*)", line)
        if found:
            events.append((float(found.group(2)), int(found.group(1)), found.group(3)))
    phases: dict[str, list[float]] = collections.defaultdict(list)
    for start, end in windows:
        window = [event for event in events if start <= event[0] <= end]
        marks = []
        for _, pattern in PHASES:
            marks.append(next((event for event in window if re.search(pattern, event[2])), None))
        if None in marks:
            continue
        new_session = marks[-1]
        exited = next((e for e in window if e[1] == new_session[1] and "exit_group" in e[2]), None)
        if exited is None:
            continue
        times = [start] + [mark[0] for mark in marks] + [exited[0], end]
        names = [name for name, _ in PHASES] + ["tmux_new_session", "new_session_exit_to_response"]
        for name, (a, b) in zip(names, zip(times, times[1:])):
            phases[name].append((b - a) * 1000)

    total = sum(summary(values)["p50"] for values in phases.values())
    result = {"benchmark": "start_phases", "note": "under strace: read the shares, not the milliseconds",
              "post_sessions_ms_under_strace": summary(posts),
              "phases_ms_under_strace": {name: summary(values) for name, values in phases.items()},
              "phase_share_of_p50": {name: round(summary(values)["p50"] / total, 3) for name, values in phases.items()},
              "cleanup": cleanup}
    path = write_result("start_phases", result)
    print(f"POST /sessions under strace: p50 {result['post_sessions_ms_under_strace']['p50']} ms "
          f"(about twice the untraced time); phases, p50 and share:")
    for name, values in phases.items():
        print(f"  {name:32s} {summary(values)['p50']:7.1f} ms  {result['phase_share_of_p50'][name]:5.0%}")
    print(f"  cleanup: {cleanup}")
    print(f"  saved {path}")
    log.unlink(missing_ok=True)
    log.parent.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
