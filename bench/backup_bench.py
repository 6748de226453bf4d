"""Backups, measured: Holdfast's restic driver beside restic's own command line on the same
~1 GB workspace (10,000 small files and 3 large ones), on a local repository and on S3 (moto on
loopback). Reports the first snapshot, incremental snapshots of the unchanged workspace
(target <= 2 s for ours), and a full restore, as medians and our/restic ratios.

    .venv/bin/python bench/backup_bench.py [--small 10000] [--large-mib 200] [--incremental 5]

Needs the release build of HoldfastBench (`make bench` builds it) and restic.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
from objectstore import CREDENTIALS, MotoServer  # noqa: E402

BENCH = Path(os.environ.get("HOLDFAST_BENCH_BINARY", ROOT / ".build-release" / "release" / "HoldfastBench"))
RESTIC = shutil.which("restic") or "/usr/bin/restic"


def make_workspace(root: Path, small: int, large_mib: int) -> tuple[int, int]:
    """Many small files in nested folders, and three large ones; incompressible, like real data."""
    rng = random.Random(42)
    total = 0
    for index in range(small):
        folder = root / f"project-{index % 40:02d}" / f"module-{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1_000, 64_000)
        (folder / f"file-{index:05d}.dat").write_bytes(os.urandom(size))
        total += size
    for index in range(3):
        with open(root / f"large-{index}.bin", "wb") as handle:
            for _ in range(large_mib):
                handle.write(os.urandom(1 << 20))
        total += large_mib << 20
    return small + 3, total


def timed(command: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - started


def restic_by_hand(workspace: Path, repository: str, scratch: Path, incremental: int, env: dict) -> dict:
    password = scratch / "password"
    password.write_text("bench-password\n")
    base = [RESTIC, "-r", repository, "--password-file", str(password), "--cache-dir", str(scratch / "cache")]
    subprocess.run(base + ["init"], check=True, env=env, capture_output=True)
    first = timed(base + ["backup", "--json", "--host", "bench", "."], cwd=workspace, env=env)
    print(f"  restic first snapshot: {first:.2f} s")
    runs = []
    for run in range(incremental):
        runs.append(timed(base + ["backup", "--json", "--host", "bench", "."], cwd=workspace, env=env))
        print(f"  restic incremental {run + 1}: {runs[-1]:.2f} s")
    target = scratch / "restored"
    restore = timed(base + ["restore", "latest", "--target", str(target)], env=env)
    print(f"  restic restore: {restore:.2f} s")
    shutil.rmtree(target, ignore_errors=True)
    return {"first_s": first, "incremental_s": runs, "restore_s": restore}


def ours(workspace: Path, repository: str, scratch: Path, incremental: int, env: dict) -> dict:
    output = scratch / "ours.json"
    subprocess.run(
        [str(BENCH), "backup", "--workspace", str(workspace), "--repository", repository, "--scratch", str(scratch),
         "--incremental", str(incremental), "--output", str(output)],
        check=True, env=env,
    )
    return json.loads(output.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large-mib", type=int, default=230)
    parser.add_argument("--incremental", type=int, default=5)
    options = parser.parse_args()
    if not BENCH.exists():
        raise SystemExit(f"{BENCH} is missing; run `make bench` or build HoldfastBench in release mode")

    work = Path(tempfile.mkdtemp(prefix="hf-backup-bench-", dir="/tmp"))
    moto = None
    try:
        workspace = work / "workspace"
        workspace.mkdir()
        started = time.monotonic()
        files, size = make_workspace(workspace, options.small, options.large_mib)
        print(f"workspace: {files} files, {size / 1e9:.2f} GB (made in {time.monotonic() - started:.0f} s)")
        moto = MotoServer()
        env = dict(os.environ, **CREDENTIALS)
        results = {"files": files, "bytes": size, "load_before": os.getloadavg()[0], "targets": {}}
        for target in ("local", "s3"):
            if target == "s3":
                moto.client().create_bucket(Bucket="bench-ours")
                moto.client().create_bucket(Bucket="bench-restic")
            print(f"== {target}")
            scratch_ours = work / f"ours-{target}"
            scratch_restic = work / f"restic-{target}"
            scratch_ours.mkdir()
            scratch_restic.mkdir()
            repo_ours = f"local:{work}/repo-ours-{target}" if target == "local" else f"s3:{moto.url}/bench-ours/holdfast"
            repo_restic = str(work / f"repo-restic-{target}") if target == "local" else f"s3:{moto.url}/bench-restic/plain"
            print("  holdfast (driver):")
            mine = ours(workspace, repo_ours, scratch_ours, options.incremental, env)
            theirs = restic_by_hand(workspace, repo_restic, scratch_restic, options.incremental, env)
            row = {
                "ours": mine,
                "restic": theirs,
                "first_ratio": mine["first_s"] / theirs["first_s"],
                "incremental_median_ours_s": statistics.median(mine["incremental_s"]),
                "incremental_median_restic_s": statistics.median(theirs["incremental_s"]),
                "restore_ratio": mine["restore_s"] / theirs["restore_s"],
                "first_throughput_mb_s": size / 1e6 / mine["first_s"],
                "restore_throughput_mb_s": size / 1e6 / mine["restore_s"],
            }
            row["incremental_ratio"] = row["incremental_median_ours_s"] / row["incremental_median_restic_s"]
            results["targets"][target] = row
            print(
                f"  {target}: first {mine['first_s']:.2f} s vs restic {theirs['first_s']:.2f} s "
                f"(x{row['first_ratio']:.2f}); incremental median {row['incremental_median_ours_s']:.2f} s vs "
                f"{row['incremental_median_restic_s']:.2f} s (x{row['incremental_ratio']:.2f}; target <= 2 s); "
                f"restore {mine['restore_s']:.2f} s vs {theirs['restore_s']:.2f} s (x{row['restore_ratio']:.2f})"
            )
        results["load_after"] = os.getloadavg()[0]
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "backup.json").write_text(json.dumps(results, indent=2))
        print(f"saved {out / 'backup.json'}")
    finally:
        if moto:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
