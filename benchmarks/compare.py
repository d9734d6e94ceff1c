"""This service at another commit against the working tree, side by side in
one run: did a change cost requests/s?

    python -m benchmarks.compare [--against HEAD~1] [--seconds 10] [--connections 16]

The other commit is exported with `git archive` into a temporary folder;
each tree trains its own artifact there (`scripts.train --cv-repeats 0`, so
that each serves the artifact format it knows), then both servers start
pinned to core 0 and wrk loads them on core 1 in alternating slices
(`benchmarks.side_by_side.measure`), single patients and 100-patient batches.
Prints a table with the ratio new / old; writes nothing else.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.contenders.factories import Contender, ours
from benchmarks.harness import BATCH, ROOT
from benchmarks.side_by_side import SLICES, measure
from scripts import cli


def export(rev: str, folder: Path) -> Path:
    """The tree of commit `rev` in `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def train(tree: Path, out: Path) -> Path:
    command = [sys.executable, "-m", "scripts.train", "--out", str(out), "--cv-repeats", "0"]
    command += ["--plot", str(out.with_suffix(".png"))]
    subprocess.run(command, cwd=tree, check=True, capture_output=True)
    return out


def contender(name: str, tree: Path, model: Path, port: int) -> Contender:
    return replace(ours(port, model, 1), name=name, cwd=tree)


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--against", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--port", type=int, default=8950, help="the first server's port")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="heart-compare-") as tmp:
        work = Path(tmp)
        old_tree = export(args.against, work / "old")
        old = contender(f"{args.against}", old_tree, train(old_tree, work / "old.pkl"), args.port)
        new_model = train(ROOT, work / "new.pkl")
        new = contender("working tree", ROOT, new_model, args.port + 10)
        old_result, new_result = measure([old, new], None, args.seconds, args.connections, SLICES)
    print("| server | requests/s | p50 | p99 | batch rows/s | batch p99 |")
    print("|---|---|---|---|---|---|")
    for c, r in ((old, old_result), (new, new_result)):
        s, b = r["single"], r["batch"]
        print(
            f"| {c.name} | {s.rps:,.0f} | {s.p50_ms:.2f} ms | {s.p99_ms:.2f} ms | "
            f"{b.rps * BATCH:,.0f} | {b.p99_ms:.1f} ms |"
        )
    single = new_result["single"].rps / old_result["single"].rps
    batch = new_result["batch"].rps / old_result["batch"].rps
    print(f"\nnew / old: requests/s {single:.2f}, batch rows/s {batch:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
