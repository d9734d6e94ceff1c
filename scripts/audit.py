"""Reading and checking the record (`AUDIT_DSN`, the same file the service
writes; see docs/operations.md).

    python -m scripts.audit export [--format jsonl|csv] [--since T] [--until T]
    python -m scripts.audit verify
    python -m scripts.audit prune --older-than DAYS [--force]

`export` writes every row (oldest first) to standard output: JSON lines by
default, or CSV; `--since`/`--until` take ISO 8601 times (UTC when no zone
is given). `verify` walks the hash chain and exits 1 at the first row
altered, or following a deleted one, naming it. `prune` deletes the rows answered more than DAYS
days ago; under MIN_RETENTION_DAYS (about six months, what the EU AI Act
asks deployers to keep, Art. 19 and 26) it refuses without `--force`. The
prune is itself a row of the record, and `verify` checks the rest from the
hash of the last row pruned.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime

from app.config import get_settings
from app.record.backends import store_for
from app.record.store import Store, StoreError

MIN_RETENTION_DAYS = 183


def _when(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", help="the record (default: AUDIT_DSN, as the service reads it)")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="every row to standard output")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", type=_when)
    export.add_argument("--until", type=_when)
    commands.add_parser("verify", help="check the hash chain")
    prune = commands.add_parser("prune", help="delete the rows older than --older-than days")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    prune.add_argument(
        "--force", action="store_true", help=f"allow under {MIN_RETENTION_DAYS} days"
    )
    args = parser.parse_args(argv)
    try:
        store = store_for(args.dsn or get_settings().audit_dsn)
        store.open()
        if args.command == "export":
            _export(store, args.format, args.since, args.until)
            return 0
        if args.command == "prune":
            return _prune(store, args.older_than, args.force)
        count, broken = store.verify()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if broken is not None:
        print(f"the chain breaks at row {broken} (after {count} sound rows)", file=sys.stderr)
        return 1
    print(f"{count} rows, chain whole")
    return 0


def _prune(store: Store, days: float, force: bool) -> int:
    if days < MIN_RETENTION_DAYS and not force:
        print(
            f"refused: {days:g} days is under the {MIN_RETENTION_DAYS}-day retention "
            "(about six months); pass --force to prune anyway",
            file=sys.stderr,
        )
        return 2
    deleted = store.prune(time.time() - days * 86400)
    print(f"{deleted} rows older than {days:g} days deleted; the prune is recorded")
    return 0


def _export(store: Store, form: str, since: float | None, until: float | None) -> None:
    writer = None
    for row in store.rows(since, until):
        if form == "jsonl":
            sys.stdout.write(json.dumps(row) + "\n")
            continue
        if writer is None:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)


if __name__ == "__main__":
    sys.exit(main())
