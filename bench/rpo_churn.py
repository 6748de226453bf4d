"""RPO actually achieved under churn: several users' sessions keep writing to their workspaces
(a line every 0.2 s), and each session is closed at a random moment. At each close the
benchmark reads the session's timeline and reports the age of its newest snapshot taken
*before* the close was asked for — what a host that died at that instant would have lost.
(The close itself then takes a verified final snapshot, so a clean close loses nothing.)

    .venv/bin/python bench/rpo_churn.py [--users 6] [--interval 30s] [--min-life 60] [--max-life 180]

The interval is shorter than the 5-minute default so a run takes minutes, not hours; the
result is reported relative to it.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from datetime import datetime
from pathlib import Path

import requests
import websocket

from common import PASSWORD, ROOT, Server, percentile


def parse(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def churn(server: Server, http: requests.Session, session_id: str) -> websocket.WebSocket:
    """Attaches and starts a writer loop in the shell; keeps the socket (the session stays connected)."""
    ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=30).json()["ticket"]
    ws = websocket.create_connection(server.attach_url(session_id, ticket), timeout=15)
    ws.recv()  # the first redraw: the shell is up
    time.sleep(0.5)
    ws.send_binary(b"while :; do date +%s.%N >> ~/churn.log; sleep 0.2; done &\r")
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--interval", default="30s")
    parser.add_argument("--min-life", type=float, default=60)
    parser.add_argument("--max-life", type=float, default=180)
    options = parser.parse_args()
    interval = float(options.interval.rstrip("s"))

    server = Server(extra=("--snapshot-interval", options.interval))
    sockets = []
    results = []
    try:
        users = []
        for index in range(options.users):
            email = f"churn{index}@bench.test"
            server.cli("admin", "create-user", "--tenant", "bench", "--email", email, "--password", PASSWORD, "--role", "member")
            login = requests.post(f"{server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
            http = requests.Session()
            http.headers["Authorization"] = "Bearer " + login.json()["token"]
            users.append(http)
        rng = random.Random(7)
        plan = []
        for http in users:
            session_id = http.post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=60).json()["id"]
            sockets.append(churn(server, http, session_id))
            plan.append((time.monotonic() + rng.uniform(options.min_life, options.max_life), http, session_id))
        print(f"{options.users} sessions churning; snapshot interval {interval:.0f} s; closing at random over "
              f"{options.min_life:.0f}-{options.max_life:.0f} s")

        def close(at: float, http: requests.Session, session_id: str) -> None:
            time.sleep(max(0.0, at - time.monotonic()))
            asked = time.time()
            http.delete(f"{server.url}/api/v1/sessions/{session_id}", timeout=60)  # answers 202: the close runs on its own
            deadline = time.monotonic() + 600
            while True:
                events = http.get(f"{server.url}/api/v1/sessions/{session_id}/events", timeout=30).json()
                if events and events[-1]["type"] == "closed" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            before = [parse(event["at"]) for event in events if event["type"] == "snapshot" and parse(event["at"]) <= asked]
            started = next(parse(event["at"]) for event in events if event["type"] == "started")
            newest = max(before) if before else started
            final = [event["detail"] for event in events if event["type"] == "snapshot"][-1]
            results.append({"session": session_id, "age_s": asked - newest, "snapshots_before_close": len(before),
                            "life_s": asked - started, "final": final})
            print(f"  closed after {asked - started:.0f} s: newest snapshot {asked - newest:.1f} s old "
                  f"({len(before)} before the close)")

        threads = [threading.Thread(target=close, args=entry) for entry in plan]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ages = [row["age_s"] for row in results]
        summary = {"interval_s": interval, "users": options.users, "n": len(ages),
                   "age_p50_s": round(percentile(ages, 50), 1), "age_max_s": round(max(ages), 1),
                   "age_max_over_interval": round(max(ages) / interval, 2), "closes": results}
        print(f"RPO under churn: newest snapshot at close p50 {summary['age_p50_s']} s, max {summary['age_max_s']} s "
              f"(interval {interval:.0f} s: max = {summary['age_max_over_interval']} x interval); every close then took "
              "a verified final snapshot")
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "rpo_churn.json").write_text(json.dumps(summary, indent=2))
    finally:
        for ws in sockets:
            try:
                ws.close()
            except Exception:
                pass
        server.close_all()
        server.stop()
        server.kill_leftovers()


if __name__ == "__main__":
    main()
