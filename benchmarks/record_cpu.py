"""Where the record's cost goes, by thread: the CPU each thread of the
server spends a request (user and system, from /proc/<pid>/task/*/stat),
with the record off, strict and async (SQLite), for `/predict` and
100-patient batches, and the total's ratio to the record off's, measured
in the same run. Linux only; the servers are pinned and loaded as in
`benchmarks.record`.

    python -m benchmarks.record_cpu [--seconds 10] [--connections 16]

It says which thread pays: the event loop (the first thread, "python")
or the record's writer (Python 3.11 leaves threads the process's name: the
others are "python#2", "python#3", ... in the order they were made; the
record's writer is the one that appears with the record on).
docs/performance.md reads it ("The record at the service's speed").
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import model_path, run_wrk
from benchmarks.record import contenders
from benchmarks.side_by_side import serving
from scripts import cli

TICK = os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> dict[str, tuple[float, float]]:
    """Each thread's name (the first of a name, then name#2, ..., oldest
    first) and its (user, system) CPU seconds so far."""
    out: dict[str, tuple[float, float]] = {}
    for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda t: int(t.name)):
        name = (task / "comm").read_text().strip()
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        times = (int(fields[11]) / TICK, int(fields[12]) / TICK)  # utime, stime
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = times
    return out


def measure(seconds: int, connections: int, port: int, model: Path) -> list[dict[str, Any]]:
    """For each server and load: requests/s and each thread's us a request."""
    results = []
    with tempfile.TemporaryDirectory(prefix="heart-record-cpu-") as tmp:
        for c in contenders(port, model, Path(tmp) / "audit.sqlite3", None):
            with serving(c, None) as server:
                assert c.batch is not None
                for kind, (path, body) in (("single", c.single), ("batch", c.batch)):
                    run_wrk(c.url + path, body, connections, 2)  # warm-up
                    before = threads(server.process.pid)
                    load = run_wrk(c.url + path, body, connections, seconds)
                    after = threads(server.process.pid)
                    per = {
                        name: tuple(
                            (a - b) * 1e6 / load.requests
                            for a, b in zip(after[name], before.get(name, (0.0, 0.0)), strict=True)
                        )
                        for name in after
                    }
                    results.append({"server": c.name, "load": kind, "rps": load.rps, "us": per})
    return results


def report(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| record | load | requests/s | CPU us a request by thread (user + system) | total / off |",
        "|---|---|---|---|---|",
    ]
    off = {r["load"]: sum(map(sum, r["us"].values())) for r in results if "off" in r["server"]}
    for r in results:
        total = sum(map(sum, r["us"].values()))
        shown = ", ".join(
            f"{name} {u:.0f} + {s:.0f}" for name, (u, s) in r["us"].items() if u + s >= 1
        )
        lines.append(
            f"| {r['server']} | {r['load']} | {r['rps']:,.0f} | {shown} | "
            f"{total / off[r['load']]:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per mode")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--port", type=int, default=8990, help="the first server's port")
    args = parser.parse_args(argv)
    model = model_path()
    print("\n".join(report(measure(args.seconds, args.connections, args.port, model))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
