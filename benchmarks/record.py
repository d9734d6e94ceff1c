"""What the record costs (part of `make bench`): /predict and 100-patient
batches with the record off (AUDIT=off), strict (the default: each answer
waits for its row to be on disk, rows of concurrent requests share one
commit) and async (written behind) in SQLite, and strict in a PostgreSQL
server on loopback (Debian's, started here as the tests start it; the row
is left out where it is not installed), side by side, loads alternating in
slices as in the main table; and a second server with the record off,
whose ratio to the first says how far two equal servers differ in the
same run.

    python -m benchmarks.record [--seconds 10] [--connections 16]

Goals (issue 27), at 16 connections, against the record off: single
patients, strict >= 0.85 x the requests/s with a p99 <= 2 x the record off's
plus 5 ms, async >= 0.92 x; 100-patient batches, strict >= 0.6 x and async
>= 0.7 x the rows/s.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.contenders.factories import Contender, ours
from benchmarks.harness import ROW, model_path
from benchmarks.side_by_side import measure, slices_for
from model.artifact import load_artifact
from model.serving import Predictor
from scripts import cli

GOALS = {  # (single requests/s, batch rows/s), as a share of the record off's
    "strict": (0.85, 0.6),
    "async": (0.92, 0.7),
}
P99_GOAL = (2.0, 5.0)  # strict's /predict p99 <= 2 x the record off's + 5 ms


def contenders(port: int, model: Path, record: Path, postgres: str | None) -> list[Contender]:
    off, strict, behind = ours(port, model, 1), ours(port + 10, model, 1), ours(port + 20, model, 1)
    off.name, off.env["AUDIT"] = "record off (AUDIT=off)", "off"
    strict.name = "record on, strict (the default)"
    strict.env.update(AUDIT="on", AUDIT_DSN=f"sqlite:///{record}")
    behind.name = "record on, async"
    behind.env.update(AUDIT="on", AUDIT_DSN=f"sqlite:///{record.with_name('async.sqlite3')}")
    behind.env["AUDIT_MODE"] = "async"
    group = [off, strict, behind]
    if postgres is not None:
        pg = ours(port + 30, model, 1)
        pg.name = "record on, strict, PostgreSQL on loopback"
        pg.env.update(AUDIT="on", AUDIT_DSN=postgres, AUDIT_SPOOL=str(record.with_name("pg.spool")))
        group.append(pg)
    return group


def run(model: Path, seconds: int, connections: int, port: int) -> list[dict[str, Any]]:
    """Off, strict and async (SQLite), strict in PostgreSQL when it is
    installed, and the noise control, measured side by side."""
    expected = Predictor(load_artifact(model)).probabilities([ROW])[0]
    with tempfile.TemporaryDirectory(prefix="heart-record-bench-") as tmp, _postgres() as dsn:
        group = contenders(port, model, Path(tmp) / "audit.sqlite3", dsn)
        group.append(_noise_control(port + 40, model))
        return measure(group, expected, seconds, connections, slices_for(len(group)))


def _noise_control(port: int, model: Path) -> Contender:
    """A second server with the record off: its ratio to the first is how
    far two equal servers differ in the same run."""
    control = ours(port, model, 1)
    control.name, control.env["AUDIT"] = "record off again (the noise control)", "off"
    return control


@contextmanager
def _postgres() -> Iterator[str | None]:
    """A new PostgreSQL server's DSN (tests.postgres: initdb, pg_ctl on a free
    loopback port, as the record's tests run it); None where it is not installed."""
    from tests.postgres import PostgresServer, binaries

    found = binaries()
    if found is None:
        yield None
        return
    server = PostgresServer(found)
    try:
        server.start()
        yield server.database()
    finally:
        server.close()


def section(results: list[dict[str, Any]], connections: int) -> list[str]:
    off, strict, behind, *postgres, control = results
    lines = [
        "## The record",
        "",
        f"`POST /predict` and 100-patient `/predict/batch`, {connections} connections, this "
        "service (1 worker, pinned) with the record off and on, side by side, loads "
        "alternating in slices (`python -m benchmarks.record`). With the record "
        "on, strict (the default), an answer leaves once its row is committed and flushed "
        "to disk (SQLite, synchronous=FULL; concurrent requests share one commit); async "
        "answers at once and commits behind, rows gathering for 50 ms per commit. "
        "PostgreSQL: Debian's server on loopback, default settings (fsync on, "
        "synchronous_commit on), not pinned. A second server with the record off runs "
        "beside them as a control: what it differs from the first by is this run's noise.",
        "",
        "| record | /predict requests/s | p50 | p99 | batch rows/s | batch p99 |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("off", off), ("off again (the noise control)", control)]
    rows += [("on, strict", strict), ("on, async", behind)]
    rows += [("on, strict, PostgreSQL", r) for r in postgres]
    for name, r in rows:
        single, batch = r["single"], r["batch"]
        lines.append(
            f"| {name} | {single.rps:,.0f} | {single.p50_ms:.2f} ms | {single.p99_ms:.2f} ms | "
            f"{batch.rps * 100:,.0f} | {batch.p99_ms:.2f} ms |"
        )
    lines.append("")
    for name, r, (single, batch) in (
        ("Strict", strict, GOALS["strict"]),
        ("Async", behind, GOALS["async"]),
        *(("Strict, PostgreSQL", r, GOALS["strict"]) for r in postgres),
    ):
        ratio, rows_ratio = r["single"].rps / off["single"].rps, r["batch"].rps / off["batch"].rps
        lines.append(
            f"{name} / off: /predict requests/s {ratio:.2f} (goal >= {single}: "
            f"{_verdict(ratio >= single)}); batch rows/s {rows_ratio:.2f} (goal >= {batch}: "
            f"{_verdict(rows_ratio >= batch)})."
        )
    most = P99_GOAL[0] * off["single"].p99_ms + P99_GOAL[1]
    lines.append(
        f"Strict's /predict p99 {strict['single'].p99_ms:.1f} ms (goal <= {most:.1f} ms, "
        f"2 x the record off's + 5: {_verdict(strict['single'].p99_ms <= most)})."
    )
    same = control["single"].rps / off["single"].rps
    same_rows = control["batch"].rps / off["batch"].rps
    lines.append(
        f"Noise: the second record-off server measured {same:.2f} of the first's /predict "
        f"requests/s and {same_rows:.2f} of its batch rows/s; each ratio above is as uncertain."
    )
    lines.append("")
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--port", type=int, default=8970, help="the first server's port")
    args = parser.parse_args(argv)
    model = model_path()
    results = run(model, args.seconds, args.connections, args.port)
    print("\n".join(section(results, args.connections)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
