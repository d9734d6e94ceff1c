"""Reading and checking the record (`AUDIT_DSN`, the same file the service
writes; see docs/record.md).

    python -m scripts.audit export [--format jsonl|csv] [--since T] [--until T]
    python -m scripts.audit verify [--artifact PATH]
    python -m scripts.audit prune --older-than DAYS [--force]
    python -m scripts.audit report [--artifact PATH] [--window N] [--out FILE]

`export` writes every answer (oldest first, one per patient: a batch's
share their request's row) to standard output: JSON lines by default, or
CSV; `--since`/`--until` take ISO 8601 times (UTC when no zone is given).
`verify` walks the hash chain and exits 1 at the first row altered, or
following a deleted one, naming it; with `--artifact`, it also scores
again every recorded answer of that artifact's model version whose values
were kept, and exits 1 at the first whose stored probability the model
does not reproduce (to SELF_TEST_TOLERANCE, the tolerance of a model's
answers across machines). `prune` deletes the rows answered more than DAYS
days ago; under MIN_RETENTION_DAYS (about six months, what the EU AI Act
asks deployers to keep, Art. 19 and 26) it refuses without `--force`. The
prune is itself a row of the record, and `verify` checks the rest from the
hash of the last row pruned. `report` writes the monitoring report of the
latest answers (GET /monitoring's, against the artifact's training rows) as
one self-contained HTML page (`scripts.monitoring_html`).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config import get_settings
from app.record.answers import every, recent
from app.record.backends import store_for
from app.record.monitor import report
from app.record.rows import answer_of, values_of
from app.record.store import Store, StoreError
from model.artifact import ArtifactError, load_artifact
from model.features import FEATURE_NAMES
from model.serving import SELF_TEST_TOLERANCE, Predictor
from scripts import cli
from scripts.monitoring_html import render

MIN_RETENTION_DAYS = 183


def _when(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--dsn", help="the record (default: AUDIT_DSN, as the service reads it)")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="every answer to standard output")
    export.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="one JSON object a line, or CSV"
    )
    export.add_argument(
        "--since", type=_when, help="answered at or after this ISO 8601 time (UTC if no zone)"
    )
    export.add_argument(
        "--until", type=_when, help="answered before this ISO 8601 time (UTC if no zone)"
    )
    verify = commands.add_parser("verify", help="check the hash chain (and the answers)")
    verify.add_argument("--artifact", type=Path, help="score its model's answers again")
    prune = commands.add_parser("prune", help="delete the rows older than --older-than days")
    prune.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="DAYS",
        help="rows older than this are deleted",
    )
    prune.add_argument(
        "--force", action="store_true", help=f"allow under {MIN_RETENTION_DAYS} days"
    )
    page = commands.add_parser("report", help="the monitoring report, as an HTML page")
    page.add_argument(
        "--artifact", type=Path, default=Path("artifacts/model.pkl"), help="the model reported on"
    )
    page.add_argument(
        "--window",
        type=int,
        default=get_settings().monitor_window,
        help="how many of the latest answers it describes (default: MONITOR_WINDOW)",
    )
    page.add_argument("--out", type=Path, help="the page's file (default: standard output)")
    args = parser.parse_args(argv)
    try:
        store = store_for(args.dsn or get_settings().audit_dsn)
        store.open()
        if args.command == "export":
            _export(store, args.format, args.since, args.until)
            return 0
        if args.command == "prune":
            return _prune(store, args.older_than, args.force)
        if args.command == "report":
            _report(store, args.artifact, args.window, args.out)
            return 0
        count, broken = store.verify()
        if broken is not None:
            print(f"the chain breaks at row {broken} (after {count} sound rows)", file=sys.stderr)
            return 1
        print(f"{count} rows, chain whole")
        return _reproduce(store, args.artifact) if args.artifact else 0
    except (StoreError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _prune(store: Store, days: float, force: bool) -> int:
    if days < MIN_RETENTION_DAYS and not force:
        print(
            f"refused: {days:g} days is under the {MIN_RETENTION_DAYS}-day retention "
            "(about six months); pass --force to prune anyway",
            file=sys.stderr,
        )
        return 2
    deleted = store.prune(time.time() - days * 86400)
    print(f"{deleted} answers older than {days:g} days deleted; the prune is recorded")
    return 0


def _report(store: Store, artifact: Path, window: int, out: Path | None) -> None:
    model = load_artifact(artifact)
    rows, outcomes = recent(store, window)
    version = str(model.metadata.get("model_version", "unknown"))
    page = render(report(rows, model.donors, outcomes), version)
    if out is None:
        sys.stdout.write(page)
    else:
        out.write_text(page, encoding="utf-8")
        print(f"{out}: the report of the latest {len(rows)} answers")


def _reproduce(store: Store, artifact: Path) -> int:
    """Score again each answer of the artifact's model version whose values
    were kept; 1 at the first not reproduced."""
    predictor = Predictor(load_artifact(artifact))
    checked = others = 0
    for row in every(store):
        stored = answer_of(row["outputs"]).get("probability")
        values = values_of(row["inputs"])
        if row["model_version"] != predictor.version or stored is None or values is None:
            others += 1  # another model, a refusal, a prune, or values kept as an HMAC
            continue
        (answer,) = predictor.assess([[values[name] for name in FEATURE_NAMES]])
        if abs(answer.probability - stored) > SELF_TEST_TOLERANCE:
            print(f"row {row['id']}: the record says {stored!r}, {artifact} gives "
                  f"{answer.probability!r}", file=sys.stderr)  # fmt: skip
            return 1
        checked += 1
    print(f"{checked} answers of {predictor.version} reproduced; {others} rows of other "
          "versions, refusals, prunes or hashed values not scored")  # fmt: skip
    return 0


def _export(store: Store, form: str, since: float | None, until: float | None) -> None:
    writer = None
    for answer in every(store, since, until):
        row = {**answer, "inputs": _text(answer["inputs"]), "outputs": _text(answer["outputs"])}
        if form == "jsonl":
            sys.stdout.write(json.dumps(row) + "\n")
            continue
        if writer is None:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)


def _text(value: Any) -> str | None:
    """A value as the export writes it: JSON text (an HMAC as it is)."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


if __name__ == "__main__":
    sys.exit(main())
