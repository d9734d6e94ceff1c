"""What the record costs (part of `make bench`): /predict and 100-patient
batches with the record off (AUDIT=off), strict (the default: each answer
waits for its row to be on disk, rows of concurrent requests share one
commit) and async (written behind), side by side, loads alternating in
slices as in the main table.

    python -m benchmarks.record [--seconds 10] [--connections 16]

Goals (issue 20): strict >= 0.5 x and async >= 0.85 x the requests/s with
the record off, at 16 connections.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.contenders.factories import Contender, ours
from benchmarks.harness import ROOT, ROW
from benchmarks.side_by_side import SLICES, measure
from model.artifact import load_artifact
from model.serving import Predictor

STRICT_GOAL = 0.5
ASYNC_GOAL = 0.85


def contenders(port: int, model: Path, record: Path) -> list[Contender]:
    off, strict, behind = ours(port, model, 1), ours(port + 10, model, 1), ours(port + 20, model, 1)
    off.name, off.env["AUDIT"] = "record off (AUDIT=off)", "off"
    strict.name = "record on, strict (the default)"
    strict.env.update(AUDIT="on", AUDIT_DSN=f"sqlite:///{record}")
    behind.name = "record on, async"
    behind.env.update(AUDIT="on", AUDIT_DSN=f"sqlite:///{record.with_name('async.sqlite3')}")
    behind.env["AUDIT_MODE"] = "async"
    return [off, strict, behind]


def run(model: Path, seconds: int, connections: int, port: int) -> list[dict[str, Any]]:
    """Off, strict and async, measured side by side."""
    expected = Predictor(load_artifact(model)).probabilities([ROW])[0]
    with tempfile.TemporaryDirectory(prefix="heart-record-bench-") as tmp:
        group = contenders(port, model, Path(tmp) / "audit.sqlite3")
        return measure(group, expected, seconds, connections, SLICES)


def section(results: list[dict[str, Any]], connections: int) -> list[str]:
    off, strict, behind = results
    lines = [
        "## The record",
        "",
        f"`POST /predict` and 100-patient `/predict/batch`, {connections} connections, this "
        "service (1 worker, pinned) with the record off and on, side by side, loads "
        "alternating in slices (`python -m benchmarks.record`). With the record "
        "on, strict (the default), an answer leaves once its row is committed and flushed "
        "to disk (SQLite, synchronous=FULL; concurrent requests share one commit); async "
        "answers at once and commits behind, rows gathering for 50 ms per commit.",
        "",
        "| record | /predict requests/s | p50 | p99 | batch rows/s | batch p99 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in (("off", off), ("on, strict", strict), ("on, async", behind)):
        single, batch = r["single"], r["batch"]
        lines.append(
            f"| {name} | {single.rps:,.0f} | {single.p50_ms:.2f} ms | {single.p99_ms:.2f} ms | "
            f"{batch.rps * 100:,.0f} | {batch.p99_ms:.2f} ms |"
        )
    lines.append("")
    for name, r, goal in (("Strict", strict, STRICT_GOAL), ("Async", behind, ASYNC_GOAL)):
        ratio = r["single"].rps / off["single"].rps
        verdict = "met" if ratio >= goal else "NOT met"
        lines.append(
            f"{name} / off, /predict requests/s: {ratio:.2f} (goal >= {goal}: {verdict}); "
            f"batch rows/s: {r['batch'].rps / off['batch'].rps:.2f}."
        )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8970)
    args = parser.parse_args(argv)
    model = Path(os.environ.get("MODEL_PATH", ROOT / "artifacts" / "model.pkl"))
    results = run(model, args.seconds, args.connections, args.port)
    print("\n".join(section(results, args.connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
