"""The benchmark: this service against the ceiling, FastAPI + scikit-learn,
MLServer and BentoML, all serving the same model, and this service's Open
Inference Protocol (V2) `infer` against MLServer's, with a raw ASGI app as
the physical limit of the HTTP server (`make bench`).

    python -m benchmarks.bench [--seconds 10] [--connections 16] [--runs 2]

Each contender is started pinned to core 0 (`taskset -c 0`; the 2-worker run
of this service is not pinned) and loaded by wrk on core 1 over loopback:
single-patient requests, then 100-patient batches. Figures: requests/s, p50
and p99 latency, rows/s for batches, time from launch to the first *correct*
answer, and resident memory of the whole process tree after the load. Every
row is measured in the same run; the whole table is measured `--runs` times
and every run is reported, because these shared machines are noisy and only
ratios within one run are meaningful. The ceiling and this service (1 worker),
whose ratio has the tightest target, run side by side and are loaded in
alternating slices, so that a slow spell of the machine hits both.

MLServer and BentoML are installed from PyPI by this script into their own
virtual environments under benchmarks/.envs/ (ignored by git), once.
Writes BENCHMARKS.md. Bounded: about 2 x (13 loads x 13 s + start-ups), plus the
explanation, CDS Hooks, heavy-batch, risk page and record sections.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks import asgi, cds, explain, heavy, page, record, report
from benchmarks.contenders.factories import (
    Contender,
    bentoml,
    build_pipeline,
    ensure_env,
    export_weights,
    mlserver,
    ours,
    ours_v2,
    uvicorn_app,
)
from benchmarks.harness import ROOT, ROW, SINGLE_BODY, model_path
from benchmarks.inprocess import measure as measure_in_process
from benchmarks.side_by_side import SLICES, measure, measure_route
from model.artifact import load_artifact
from model.serving import Predictor
from scripts import cli


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--runs", type=int, default=2, help="runs of the whole table")
    parser.add_argument("--port", type=int, default=8900, help="the first server's port")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "BENCHMARKS.md", help="the report written"
    )
    args = parser.parse_args(argv)
    model = model_path()
    expected = Predictor(load_artifact(model)).probabilities([ROW])[0]

    with tempfile.TemporaryDirectory(prefix="heart-bench-") as tmp:
        work = Path(tmp)
        weights = export_weights(model, work / "weights.npz")
        main_pipeline = build_pipeline(Path(sys.executable), weights, work / "main.joblib")
        contenders = _contenders(args.port, model, weights, main_pipeline, work)
        inproc = measure_in_process(model, weights, main_pipeline)
        explained = explain.measure(model)
        through_app = asgi.run(model, rounds=9)
        paired = ("ceiling", "this service, 1 worker")  # the tightest target compares them
        groups = [([contenders[k] for k in paired], SLICES)] + [
            ([c], 1) for k, c in contenders.items() if k not in paired
        ]
        for run in range(args.runs):
            for group, slices in groups:
                print(f"run {run + 1}: {' and '.join(c.name for c in group)}...", flush=True)
                results = measure(group, expected, args.seconds, args.connections, slices)
                for c, result in zip(group, results, strict=True):
                    c.results[run] = result
        print("/explain through the service...", flush=True)
        explain_route = measure_route(
            ours(args.port, model, 1), "/explain", SINGLE_BODY, args.seconds, args.connections
        )
        print("CDS Hooks calls...", flush=True)
        cds_calls = cds.measure(model, args.seconds, args.port)
        print("single patients beside a heavy batch...", flush=True)
        beside_heavy = heavy.measure(model, args.seconds, args.port)
        print("the risk page...", flush=True)
        risk_page = page.measure(model, 40, 200, args.port)
        print("the record, off and on...", flush=True)
        recorded = record.run(model, args.seconds, args.connections, args.port)

    setup = {"connections": args.connections, "seconds": args.seconds, "slices": SLICES}
    lines = report.document(contenders, args.runs, inproc, through_app, setup)
    lines += report.explanations(explained, explain_route)
    lines += cds.section(cds_calls)
    lines += heavy.section(beside_heavy)
    lines += page.section(risk_page)
    lines += record.section(recorded, args.connections)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def _contenders(
    p: int, model: Path, weights: Path, main_pipeline: Path, work: Path
) -> dict[str, Contender]:
    """Every server compared, by key; the ceiling and ours run side by side
    (on ports p and p + 10), the others one at a time on port p."""
    ml_python, bento_python = ensure_env("mlserver"), ensure_env("bentoml")
    return {
        "ceiling": uvicorn_app(
            "ceiling: FastAPI, same schemas, returns constants",
            "benchmarks.contenders.ceiling_app:app",
            p,
            {},
            False,
            loop="asyncio",
        ),
        "this service, 1 worker": ours(p + 10, model, 1),  # beside the ceiling
        "fastapi-sklearn": uvicorn_app(
            "FastAPI + scikit-learn predict_proba",
            "benchmarks.contenders.sklearn_app:app",
            p,
            {"PIPELINE": str(main_pipeline)},
            True,
        ),
        "mlserver": mlserver(p, build_pipeline(ml_python, weights, work / "ml.joblib"), work),
        "bentoml": bentoml(p, build_pipeline(bento_python, weights, work / "bento.joblib")),
        "this service, 2 workers": ours(p, model, 2),
        "this service, V2": ours_v2(p, model),
        "this service, V2, uvloop": ours_v2(p, model, "uvloop"),
        "raw-asgi": uvicorn_app(
            "raw ASGI app, same uvicorn, no framework, returns a constant",
            "benchmarks.contenders.raw_asgi:app",
            p,
            {},
            False,
            loop="asyncio",
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
