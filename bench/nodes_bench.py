"""Many nodes on one PostgreSQL: what forwarding through a node that does not own the session
costs, how fast a once-only duty moves when its node dies, and sessions started per second on one
node vs spread over two.

    scripts/pg-cluster.sh run -- .venv/bin/python bench/nodes_bench.py [--round-trips 200] [--megabytes 256]

Both nodes run on this machine (loopback), so "forwarded" adds one more process and two more
loopback hops on the same two cores: an upper bound of what a node-to-node hop costs on a LAN.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests
import websocket

from common import BINARY, PASSWORD, Server, loadavg, summary, write_result
from desktop_bench import read_ws_payload, replace_socket, start_desktop, ws_connect

LEASE_SECONDS = 15


def fresh_database() -> str:
    base = os.environ.get("HOLDFAST_TEST_POSTGRES_URL")
    if not base:
        raise SystemExit("run under scripts/pg-cluster.sh run -- … (HOLDFAST_TEST_POSTGRES_URL is not set)")
    name = "bench_" + os.urandom(4).hex()
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name


def node(name: str, database: str, secret_file: Path, binary: Path) -> Server:
    return Server(extra=("--database", database, "--node", name, "--cluster-secret-file", str(secret_file)),
                  member=False, binary=binary)


def member(server: Server, database: str, email: str) -> requests.Session:
    for args in (["admin", "create-tenant", "--name", "Bench", "--slug", "bench"],
                 ["admin", "create-user", "--tenant", "bench", "--email", email, "--password", PASSWORD, "--role", "member"]):
        subprocess.run([str(server.binary), *args, "--data-dir", str(server.data_dir), "--database", database],
                       capture_output=True, text=True, timeout=60)
    http = requests.Session()
    http.headers["Authorization"] = "Bearer " + server.login(email, PASSWORD)
    return http


def attach(server: Server, http: requests.Session, session_id: str) -> websocket.WebSocket:
    ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=30).json()["ticket"]
    ws = websocket.create_connection(server.attach_url(session_id, ticket, 100, 30), timeout=30)
    deadline = time.monotonic() + 30
    seen = b""
    while b"$ " not in seen and time.monotonic() < deadline:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_BINARY:
            seen += data
    return ws


def round_trips(ws: websocket.WebSocket, count: int) -> list[float]:
    """Keystroke to echo, with `cat` reading the terminal: each letter, timed until a frame with
    that letter arrives (letters rotate, so a late frame of the one before never counts)."""
    ws.send_binary(b"\x15cat\r")
    time.sleep(0.5)
    ws.settimeout(0.2)
    try:
        while True:
            ws.recv_data()
    except websocket.WebSocketTimeoutException:
        pass
    ws.settimeout(30)
    times = []
    for index in range(count):
        letter = bytes([ord("a") + index % 26])
        started = time.perf_counter()
        ws.send_binary(letter)
        while True:
            opcode, data = ws.recv_data()
            if opcode == websocket.ABNF.OPCODE_BINARY and letter in data:
                break
        times.append((time.perf_counter() - started) * 1000)
        if index % 26 == 25:
            ws.send_binary(b"\x15")  # the line stays short
    ws.send_binary(b"\x04")  # ends cat
    return times


def blast_rates(nodes: dict[str, Server], http: requests.Session, megabytes: int, rounds: int) -> dict[str, list[float]]:
    """Server-to-viewer MB/s of a desktop whose VNC socket is a fast source (as in desktop_bench),
    read straight from its node and through the other node, alternately."""
    asked = next(iter(nodes.values()))
    session_id = start_desktop(asked, http)
    owner = http.get(f"{asked.url}/api/v1/sessions/{session_id}", timeout=30).json()["node"]
    direct = nodes[owner]
    other = next(server for name, server in nodes.items() if name != owner)
    total = megabytes << 20
    source, _ = replace_socket(direct, session_id, "blast", total)
    rates: dict[str, list[float]] = {"direct": [], "forwarded": []}
    try:
        for _ in range(rounds):
            for name, server in (("direct", direct), ("forwarded", other)):
                ticket = http.post(f"{server.url}/api/v1/sessions/{session_id}/tickets", timeout=30).json()["ticket"]
                host, port = server.url.removeprefix("http://").split(":")
                started = time.perf_counter()
                connection = ws_connect(host, int(port), f"/api/v1/sessions/{session_id}/attach?ticket={ticket}", {})
                with connection[0]:
                    got = read_ws_payload(connection, total + 12)
                rates[name].append(got / (time.perf_counter() - started) / 1e6)
    finally:
        source.kill()
    return rates


def duty_holders(server: Server, operator: requests.Session) -> dict[str, str]:
    nodes = operator.get(f"{server.url}/api/v1/nodes", timeout=10).json()["items"]
    return {duty: entry["name"] for entry in nodes for duty in entry["duties"]}


def starts_per_second(servers: list[Server], users: list[requests.Session], count: int) -> float:
    """Starts `count` sessions one after another, asking the nodes in turn; sessions per second."""
    started = time.perf_counter()
    for index in range(count):
        server = servers[index % len(servers)]
        response = users[index].post(f"{server.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=60)
        assert response.status_code == 201, response.text
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=6)
    options = parser.parse_args()
    report: dict = {"load_before": loadavg()}
    secret_dir = Path(tempfile.mkdtemp(prefix="hfn-"))
    secret_file = secret_dir / "secret"
    secret_file.write_text(os.urandom(32).hex())
    secret_file.chmod(0o600)
    database = fresh_database()
    servers: list[Server] = []
    try:
        a = node("node-a", database, secret_file, BINARY)
        servers.append(a)
        email, password = a.first_operator()
        b = node("node-b", database, secret_file, BINARY)
        servers.append(b)
        operator = requests.Session()
        operator.headers["Authorization"] = "Bearer " + a.login(email, password)
        ann = member(a, database, "ann@bench.test")
        session_id = ann.post(f"{a.url}/api/v1/sessions", json={"kind": "terminal"}, timeout=60).json()["id"]

        # Latency: one terminal, straight to its node and through the other one, in alternating
        # blocks so that the machine's noise falls on both.
        latencies: dict[str, list[float]] = {"direct": [], "forwarded": []}
        for block in range(4):
            for name, server in (("direct", a), ("forwarded", b)) if block % 2 == 0 else (("forwarded", b), ("direct", a)):
                ws = attach(server, ann, session_id)
                latencies[name] += round_trips(ws, max(1, options.round_trips // 4))
                ws.close()
        direct, forwarded = summary(latencies["direct"]), summary(latencies["forwarded"])
        report["keystroke_echo_ms"] = {"direct": direct, "forwarded": forwarded,
                                       "added_p50_ms": round(forwarded["p50"] - direct["p50"], 2),
                                       "added_p99_ms": round(forwarded["p99"] - direct["p99"], 2)}
        print("echo:", report["keystroke_echo_ms"], flush=True)
        # Throughput: a desktop whose VNC socket sends as fast as it can.
        rates = blast_rates({"node-a": a, "node-b": b}, member(a, database, "dee@bench.test"), options.megabytes, options.rounds)
        medians = {name: round(statistics.median(values), 1) for name, values in rates.items()}
        report["desktop_stream_mb_per_s"] = {"megabytes": options.megabytes, "runs": rates, "median": medians,
                                             "forwarded_vs_direct": round(medians["forwarded"] / medians["direct"], 2)}
        print("stream:", report["desktop_stream_mb_per_s"], flush=True)

        # Sessions started per second: all through one node, then spread by placement over two.
        users = [member(a, database, f"u{index}@bench.test") for index in range(2 * options.starts)]
        one = starts_per_second([a], users[:options.starts], options.starts)
        two = starts_per_second([a, b], users[options.starts:], options.starts)
        report["starts_per_second"] = {"one_node": round(one, 2), "two_nodes": round(two, 2), "ratio": round(two / one, 2)}
        print("starts:", report["starts_per_second"], flush=True)

        # Failover: the node running the mailer is killed; how long until the other runs it.
        holders = duty_holders(a, operator)
        victim = a if holders.get("mailer") == "node-a" else b
        survivor = b if victim is a else a
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        killed = time.monotonic()
        while duty_holders(survivor, operator).get("mailer") != survivor_name(survivor, a):
            time.sleep(0.2)
            if time.monotonic() - killed > 4 * LEASE_SECONDS:
                raise SystemExit("the mailer did not move within four lease periods")
        moved = time.monotonic() - killed
        report["duty_failover_s"] = {"seconds": round(moved, 1), "lease_s": LEASE_SECONDS,
                                     "lease_periods": round(moved / LEASE_SECONDS, 2)}
        print("failover:", report["duty_failover_s"], flush=True)
    finally:
        # Sessions outlive their servers by design: end what this run started, unmount its volumes.
        for server in servers:
            server.stop()
            server.kill_leftovers()
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            for mountpoint in sorted((m for m in mounts if m.startswith(f"{server.data_dir}/")), key=len, reverse=True):
                subprocess.run(["umount", "-l", mountpoint], check=False)
            subprocess.run(["rm", "-rf", str(server.data_dir)], check=False)
        subprocess.run(["rm", "-rf", str(secret_dir)], check=False)
    report["load_after"] = loadavg()
    print("results in", write_result("nodes", report))


def survivor_name(server: Server, a: Server) -> str:
    return "node-a" if server is a else "node-b"


if __name__ == "__main__":
    main()
