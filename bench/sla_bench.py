"""SLA engine rate: first-response due dates per second on a realistic support calendar
(Mon-Fri 09:00-12:30 and 13:30-17:30 Europe/London, ~10 holidays, 4 h / 8 h / 2-day targets,
starts over 2026 incl. DST changes, weekends and holidays), beside a naive minute-stepping
reference in the same run. Also the console's per-row cost: business time left of a ticket
overdue by 1 to 365 days.

    .venv/bin/python bench/sla_bench.py [--iterations 200000] [--runs 7] [--reference 500]

Runs `HoldfastBench sla` (release build) and saves bench/results/sla.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, write_result

BENCH = Path(os.environ.get("HOLDFAST_BENCH_BINARY", ROOT / ".build-release" / "release" / "HoldfastBench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200_000, help="engine computations per run")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reference", type=int, default=500, help="minute-stepper computations per run")
    options = parser.parse_args()
    if not BENCH.exists():
        raise SystemExit(f"{BENCH} is missing; run `make bench` or build HoldfastBench in release mode")
    with tempfile.TemporaryDirectory(prefix="hf-sla-") as scratch:
        output = Path(scratch) / "sla.json"
        subprocess.run([str(BENCH), "sla", "--iterations", str(options.iterations), "--runs", str(options.runs),
                        "--reference", str(options.reference), "--output", str(output)], check=True)
        result = json.loads(output.read_text())
    if result["mismatches"]:
        raise SystemExit(f"the engine and the minute stepper disagree on {result['mismatches']} due dates")
    print(f"saved {write_result('sla', result)}")


if __name__ == "__main__":
    main()
