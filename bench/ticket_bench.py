"""Ticket lists under load: `GET /api/v1/tickets?limit=50` for an agent, the agent console
`/console` and the customer's `/support` page, with 100,000 tickets in the store, driven by wrk
on loopback against the release `holdfast serve` (SQLite). Target: >= 5,000 req/s and
p99 <= 20 ms for a page of 50.

    .venv/bin/python bench/ticket_bench.py [--tickets 100000] [--duration 20] [--repeats 3]
        [--threads 2] [--connections 16] [--sla] [--seeded DIR] [--only NAME] [--read-cache 0s]
        [--writes N] [--label LABEL]

`--seeded DIR` reuses a data directory seeded before (copied, so runs start from the same
store); `--read-cache 0s` turns the server's read caches off (every ticket list, session list,
tenant and setting read from the store); `--writes N` has the customer file N tickets a second
while wrk runs, each of which empties the read caches; `HOLDFAST_BINARY` picks the server binary,
for before/after runs.

Seeds a fresh data directory with `HoldfastBench seed-tickets` (a year of tickets over 8 tenants
and 320 customers, statuses by age), starts `holdfast serve` on it, signs in as the first
operator (bearer token for the API, the same token as session cookie for the console) and as a
customer with a few hundred tickets (cookie for /support), then runs wrk `--repeats` times per
endpoint after a 5 s warm-up and reports medians. Also records the server's CPU time per request
(from /proc), which says whether the server or wrk is the limit on two shared cores.
`--sla` also runs `bench/sla_bench.py` afterwards.

Needs the release builds of holdfast and HoldfastBench (`make bench` builds them) and wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from common import BINARY, ROOT, Server, loadavg, write_result

BENCH = Path(os.environ.get("HOLDFAST_BENCH_BINARY", ROOT / ".build-release" / "release" / "HoldfastBench"))
WRK = shutil.which("wrk") or "/usr/bin/wrk"
TARGET_RPS = 5_000
TARGET_P99_MS = 20.0
PAGE = 50
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def cache_flag() -> str:
    """The server's read-cache flag: `--read-cache`, or `--ticket-list-cache` in a binary from before it (A/B runs)."""
    usage = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True).stdout
    return "--read-cache" if "--read-cache" in usage else "--ticket-list-cache"


def seed(data_dir: Path, tickets: int) -> dict:
    report = data_dir / "seed.json"
    subprocess.run([str(BENCH), "seed-tickets", "--data-dir", str(data_dir), "--tickets", str(tickets),
                    "--output", str(report)], check=True)
    return json.loads(report.read_text())


def parse_wrk(text: str) -> dict:
    """Requests/s, the --latency percentiles (ms) and the error counts from wrk's report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if not rate or not total:
        raise RuntimeError(f"cannot read wrk's report:\n{text}")
    latency = {f"p{p}": round(float(value) * UNIT_MS[unit], 3)
               for p, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    not_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {"rps": float(rate.group(1)), "requests": int(total.group(1)), **latency,
            "non_2xx": int(not_ok.group(1)) if not_ok else 0,
            "socket_errors": sum(map(int, socket.groups())) if socket else 0}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, header: str, seconds: int, threads: int, connections: int) -> str:
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, url]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def measure(server: Server, name: str, url: str, header: str, options: argparse.Namespace) -> dict:
    wrk(url, header, 5, options.threads, options.connections)  # warm-up, not recorded
    runs = []
    for run in range(options.repeats):
        cpu_before = cpu_seconds(server.process.pid)
        result = parse_wrk(wrk(url, header, options.duration, options.threads, options.connections))
        result["server_cpu_ms_per_request"] = round(
            (cpu_seconds(server.process.pid) - cpu_before) * 1000 / max(1, result["requests"]), 3)
        result["loadavg"] = loadavg()
        runs.append(result)
        print(f"  {name} run {run + 1}: {result['rps']:.0f} req/s, p50 {result['p50']:.2f} ms, "
              f"p99 {result['p99']:.2f} ms, server CPU {result['server_cpu_ms_per_request']:.2f} ms/request, "
              f"non-2xx {result['non_2xx']}, load {result['loadavg']}")
    row = {key: statistics.median(run[key] for run in runs)
           for key in ("rps", "p50", "p90", "p99", "server_cpu_ms_per_request")}
    row.update(url=url.replace(server.url, ""), runs=runs,
               errors=sum(run["non_2xx"] + run["socket_errors"] for run in runs))
    met = row["rps"] >= TARGET_RPS and row["p99"] <= TARGET_P99_MS and row["errors"] == 0
    row["verdict"] = "met" if met else "missed"
    return row


class Writer:
    """Files `rate` tickets a second as the customer, from a thread, until stopped: the writes that
    empty the server's read caches while wrk reads."""

    def __init__(self, url: str, token: str, rate: float):
        self.url, self.token, self.rate = url, token, rate
        self.made = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        next_at = time.monotonic()
        while not self.stopping.is_set():
            body = {"kind": "question", "subject": f"Benchmark write {self.made}", "description": "Filed while wrk reads.",
                    "occurredAt": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
                    "whatHappened": "Nothing; this is a benchmark."}
            response = session.post(f"{self.url}/api/v1/tickets", json=body, timeout=30)
            if response.status_code == 201:
                self.made += 1
            else:
                self.failures.append(f"{response.status_code} {response.text[:200]}")
            next_at += 1 / self.rate
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join()
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} writes failed, e.g. {self.failures[0]}")
        return self.made


def check_page(response: requests.Response, what: str, expected: int = PAGE) -> None:
    """Fails unless the page answered 200 and links `expected` tickets."""
    if response.status_code != 200:
        raise RuntimeError(f"{what} answered {response.status_code}: {response.text[:300]}")
    count = len(re.findall(r'href="/support/tickets/', response.text))
    if count != expected:
        raise RuntimeError(f"{what} shows {count} tickets, not {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sla", action="store_true", help="also run bench/sla_bench.py")
    parser.add_argument("--seeded", type=Path,
                        help="a data directory seeded before (by a run's `seed-tickets`): copied, not seeded again")
    parser.add_argument("--only", action="append", choices=["api_tickets", "console", "support"],
                        help="measure only these endpoints (repeatable)")
    parser.add_argument("--read-cache",
                        help="pass --read-cache to the server (default: the server's 1s; 0s reads every list "
                             "from the store); leave it out for a binary from before the flag")
    parser.add_argument("--label", help="save the figures as bench/results/tickets-LABEL.json")
    parser.add_argument("--writes", type=float, default=0.0,
                        help="tickets filed per second by a customer while wrk runs (each one empties the read caches)")
    options = parser.parse_args()
    for binary in (BENCH, BINARY):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing; run `make bench` or build it in release mode")

    data_dir = Path(tempfile.mkdtemp(prefix="hft-", dir="/tmp"))
    started = time.monotonic()
    if options.seeded:
        shutil.copytree(options.seeded, data_dir, dirs_exist_ok=True)
        seeded = json.loads((data_dir / "seed.json").read_text())
    else:
        seeded = seed(data_dir, options.tickets)
    seed_seconds = time.monotonic() - started
    server = Server(data_dir=data_dir, member=False,
                    extra=(cache_flag(), options.read_cache) if options.read_cache else ())
    try:
        operator = server.login(*server.first_operator())
        customer = server.login(seeded["customerEmail"], seeded["password"])
        bearer = f"Authorization: Bearer {operator}"
        agent_cookie = f"Cookie: holdfast_session={operator}"
        customer_cookie = f"Cookie: holdfast_session={customer}"
        endpoints = {
            "api_tickets": (f"{server.url}/api/v1/tickets?limit={PAGE}", bearer),
            "console": (f"{server.url}/console", agent_cookie),
            "support": (f"{server.url}/support", customer_cookie),
        }
        api = requests.get(endpoints["api_tickets"][0], headers={"Authorization": f"Bearer {operator}"}, timeout=30)
        api.raise_for_status()
        if len(api.json()["items"]) != PAGE:
            raise RuntimeError(f"GET /api/v1/tickets returned {len(api.json()['items'])} tickets, not {PAGE}")
        check_page(requests.get(endpoints["console"][0], cookies={"holdfast_session": operator}, timeout=30), "/console")
        check_page(requests.get(endpoints["support"][0], cookies={"holdfast_session": customer}, timeout=30), "/support",
                   min(PAGE, seeded["customerTickets"]))
        print(f"seeded {seeded['tickets']} tickets in {seed_seconds:.0f} s (queue {seeded['inQueue']}, "
              f"{seeded['overdueInQueue']} overdue; {seeded['customerEmail']} has {seeded['customerTickets']}); "
              f"server {server.url}; load {loadavg()}")

        writer = Writer(server.url, customer, options.writes) if options.writes > 0 else None
        results = {"tickets": seeded["tickets"], "seed": seeded, "seed_seconds": round(seed_seconds, 1),
                   "read_cache": options.read_cache, "writes_per_second": options.writes,
                   "wrk": f"-t{options.threads} -c{options.connections} -d{options.duration}s --latency",
                   "repeats": options.repeats, "target": {"rps": TARGET_RPS, "p99_ms": TARGET_P99_MS},
                   "loadavg_at_start": loadavg(), "endpoints": {}}
        for name, (url, header) in endpoints.items():
            if options.only and name not in options.only:
                continue
            results["endpoints"][name] = measure(server, name, url, header, options)
        if writer:
            results["writes_made"] = writer.stop()
        results["server_rss_mib"] = round(int(re.search(r"VmRSS:\s+(\d+)", Path(
            f"/proc/{server.process.pid}/status").read_text()).group(1)) / 1024, 1)
    finally:
        left = server.cleanup()
    results["cleanup"] = left
    results["binary"] = str(BINARY)
    path = write_result(f"tickets-{options.label}" if options.label else "tickets", results)

    print(f"read cache {options.read_cache or 'default'}, {options.writes:g} tickets filed per second during the runs"
          + (f" ({results['writes_made']} filed)" if writer else ""))
    print(f"tickets ({seeded['tickets']} in the store, median of {options.repeats} wrk runs, "
          f"target >= {TARGET_RPS} req/s and p99 <= {TARGET_P99_MS:.0f} ms):")
    for name, row in results["endpoints"].items():
        print(f"  {row['url']:<26} {row['rps']:>7.0f} req/s ({row['rps'] / TARGET_RPS:.2f}x target), "
              f"p50 {row['p50']:.2f} ms, p99 {row['p99']:.2f} ms ({row['p99'] / TARGET_P99_MS:.2f}x limit), "
              f"server CPU {row['server_cpu_ms_per_request']:.2f} ms/request: {row['verdict']}")
    print(f"  saved {path}; load average {loadavg()}")
    if options.sla:
        subprocess.run([sys.executable, str(ROOT / "bench" / "sla_bench.py")], check=True)


if __name__ == "__main__":
    main()
