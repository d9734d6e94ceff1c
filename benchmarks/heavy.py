"""Single patients beside a heavy batch (part of `make bench`): single
/predict latency alone, then while a client posts 1,000-patient batches
with measurements missing back to back (scored off the event loop,
`app.api.scoring.scored`); and, in-process, what a patient with
measurements missing costs in a 1,000-patient batch against the same
patients one at a time (`model.missing`). Targets: beside the batch,
/predict p99 <= 100 ms and no 503; a batched patient <= 0.3 ms.

    python -m benchmarks.heavy [--seconds 10]

The service runs pinned to core 0 (1 worker), wrk on core 1 with one
connection; the batch client runs in this process.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import timeit
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.contenders.factories import ours
from benchmarks.harness import ROOT, SINGLE_BODY, Load, model_path, run_wrk, started
from model.artifact import load_artifact
from model.features import FEATURE_NAMES
from model.serving import Predictor
from scripts import cli
from scripts.evaluate_missing import PATTERNS

PATIENTS = 1000
TARGET_P99_MS = 100.0
TARGET_PER_PATIENT_MS = 0.3


def varied_rows(n: int = PATIENTS) -> np.ndarray:
    """heart.dat's patients in turn, each with the next of the named missing
    patterns (`scripts.evaluate_missing.PATTERNS`) blanked (NaN)."""
    data = np.loadtxt(ROOT / "data" / "heart.dat")[:, : len(FEATURE_NAMES)]
    patterns = [fields for fields in PATTERNS.values() if fields]
    rows = np.array([data[i % len(data)] for i in range(n)])
    for i, row in enumerate(rows):
        row[[FEATURE_NAMES.index(f) for f in patterns[i % len(patterns)]]] = np.nan
    return rows


def in_process(model: Path) -> dict[str, float]:
    """Seconds per patient: batched (one call for all) and one at a time."""
    predictor = Predictor(load_artifact(model))
    rows = varied_rows()
    batched = min(timeit.repeat(lambda: predictor.assess(rows), number=1, repeat=3)) / len(rows)
    some = rows[:200]
    alone = min(
        timeit.repeat(lambda: [predictor.assess(r[None]) for r in some], number=1, repeat=3)
    ) / len(some)
    return {"batched": batched, "alone": alone}


def _batch_body() -> bytes:
    patients = [
        {f: (None if np.isnan(v) else float(v)) for f, v in zip(FEATURE_NAMES, row, strict=True)}
        for row in varied_rows()
    ]
    return json.dumps({"patients": patients}).encode()


def measure(model: Path, seconds: int, port: int) -> dict[str, Any]:
    """wrk's /predict figures alone and beside the batches, the batches' own
    times, and the in-process costs."""
    c = ours(port, model, 1)
    c.env["MAX_BATCH"] = str(PATIENTS)
    base = f"http://127.0.0.1:{port}"
    body, times, statuses = _batch_body(), [], set()
    stop = threading.Event()

    def batches() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            while not stop.is_set():
                begin = time.perf_counter()
                r = client.post("/predict/batch", content=body,
                                headers={"Content-Type": "application/json"})  # fmt: skip
                times.append(time.perf_counter() - begin)
                statuses.add(r.status_code)

    with started(c.command, lambda: httpx.get(f"{base}/ready").is_success, c.env):
        alone = run_wrk(f"{base}/predict", SINGLE_BODY, 1, seconds)
        thread = threading.Thread(target=batches)
        thread.start()
        time.sleep(0.5)  # the first batch is being scored
        beside = run_wrk(f"{base}/predict", SINGLE_BODY, 1, seconds)
        stop.set()
        thread.join()
    return {
        "alone": alone,
        "beside": beside,
        "batch_seconds": statistics.median(times),
        "batches": len(times),
        "batch_statuses": sorted(statuses),
        "in_process": in_process(model),
    }


def section(result: dict[str, Any]) -> list[str]:
    alone, beside = result["alone"], result["beside"]
    cost = result["in_process"]

    def row(name: str, load: Load) -> str:
        return (
            f"| {name} | {load.rps:,.0f} | {load.p50_ms:.1f} ms | {load.p99_ms:.1f} ms "
            f"| {load.non_2xx} |"
        )

    met = beside.p99_ms <= TARGET_P99_MS and beside.non_2xx == 0
    return [
        "",
        "## Single patients beside a heavy batch",
        "",
        f"Single `/predict` (wrk, one connection) alone, then while a client posts "
        f"{PATIENTS}-patient batches with measurements missing back to back (heart.dat's "
        "patients, each with one of the named missing patterns of `scripts/evaluate_missing.py`;"
        " `python -m benchmarks.heavy`):",
        "",
        "| /predict | requests/s | p50 | p99 | non-2xx |",
        "|---|---|---|---|---|",
        row("alone", alone),
        row(f"beside {PATIENTS}-patient batches", beside),
        "",
        f"p99 beside the batches / alone: {beside.p99_ms / alone.p99_ms:.2f}x; "
        f"target p99 <= {TARGET_P99_MS:.0f} ms and no 503: {'met' if met else 'NOT met'}. "
        f"Each batch took {result['batch_seconds']:.2f} s (median of {result['batches']}; "
        f"answers {result['batch_statuses']}).",
        "",
        f"In-process, a patient with measurements missing: {cost['batched'] * 1e3:.3f} ms in a "
        f"{PATIENTS}-patient batch, {cost['alone'] * 1e3:.3f} ms one at a time "
        f"({cost['alone'] / cost['batched']:.1f}x); target <= {TARGET_PER_PATIENT_MS} ms "
        f"batched: {'met' if cost['batched'] <= TARGET_PER_PATIENT_MS / 1e3 else 'NOT met'}.",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per phase")
    parser.add_argument("--port", type=int, default=8960, help="the service's port")
    args = parser.parse_args(argv)
    model = model_path()
    print("\n".join(section(measure(model, args.seconds, args.port))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
