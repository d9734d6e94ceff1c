"""The report of `make bench`: its tables, the targets' verdicts, and
BENCHMARKS.md as a whole."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import asgi, explain
from benchmarks.contenders.factories import Contender
from benchmarks.harness import BATCH, Load


def table(contenders: list[Contender], run: int, limit: Contender | None = None) -> list[str]:
    """One run's table; with `limit` (the raw ASGI app), each row's requests/s
    and rows/s as a share of that physical limit."""
    lines = [
        "| server | requests/s | p50 | p99 | non-2xx | 100-patient batch, rows/s | batch p99 "
        "| start to first correct answer | RSS (processes) | share of the raw ASGI limit "
        "(1 / 100 patients) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in contenders:
        r = c.results[run]
        s: Load = r["single"]
        b: Load | None = r.get("batch")
        batch = f"{b.rps * BATCH:,.0f} | {b.p99_ms:.1f} ms" if b else " | "
        lines.append(
            f"| {c.name} | {s.rps:,.0f} | {s.p50_ms:.2f} ms | {s.p99_ms:.2f} ms | "
            f"{s.non_2xx + (b.non_2xx if b else 0)} | {batch} | {r['start_s']:.2f} s | "
            f"{r['rss_mib']:.0f} MiB ({r['processes']}) | {_share(r, limit, run)} |"
        )
    return lines


def _share(r: dict[str, Any], limit: Contender | None, run: int) -> str:
    if limit is None or run not in limit.results:
        return ""
    top = limit.results[run]
    single = r["single"].rps / top["single"].rps
    batch = r["batch"].rps / top["batch"].rps if "batch" in r and "batch" in top else None
    return f"{single:.2f}" + (f" / {batch:.2f}" if batch is not None else "")


def verdicts(by_name: dict[str, dict[str, Any]], inproc: dict[str, float]) -> list[str]:
    ours1 = by_name["this service, 1 worker"]
    ceil = by_name["ceiling"]
    mls = by_name["mlserver"]
    v2 = by_name["this service, V2"]

    def rps(r: dict[str, Any], kind: str = "single") -> float:
        return float(r[kind].rps)

    checks = [
        ("/predict requests/s >= 3 x MLServer", rps(ours1) / rps(mls), 3.0, True),
        (
            "/predict p99 <= 0.5 x MLServer",
            ours1["single"].p99_ms / mls["single"].p99_ms,
            0.5,
            False,
        ),
        ("/predict requests/s >= 0.85 x ceiling", rps(ours1) / rps(ceil), 0.85, True),
        ("batch rows/s >= 1.2 x MLServer", rps(ours1, "batch") / rps(mls, "batch"), 1.2, True),
        ("batch rows/s >= 0.8 x ceiling", rps(ours1, "batch") / rps(ceil, "batch"), 0.8, True),
        ("start to first answer <= 0.6 x MLServer", ours1["start_s"] / mls["start_s"], 0.6, False),
        ("RSS per worker <= 0.6 x MLServer", ours1["rss_mib"] / mls["rss_mib"], 0.6, False),
        ("in-process, 1 patient >= 10 x faster than sklearn", inproc["speedup_1"], 10.0, True),
        ("V2 infer, 1 patient, requests/s >= 3 x MLServer", rps(v2) / rps(mls), 3.0, True),
        (
            "V2 infer, 100 patients, rows/s >= 1.5 x MLServer",
            rps(v2, "batch") / rps(mls, "batch"),
            1.5,
            True,
        ),
    ]
    uv = by_name.get("this service, V2, uvloop")
    if uv is not None:  # the price of asyncio's fair accept (EVENT_LOOP), for comparison
        checks += [
            (
                "(EVENT_LOOP=uvloop) V2 infer, 1 patient, >= 3 x MLServer",
                rps(uv) / rps(mls),
                3.0,
                True,
            ),
            (
                "(EVENT_LOOP=uvloop) V2 infer, 100 patients, >= 1.5 x MLServer",
                rps(uv, "batch") / rps(mls, "batch"),
                1.5,
                True,
            ),
        ]
    out = ["| target | measured | met |", "|---|---|---|"]
    for name, value, bound, higher in checks:
        met = value >= bound if higher else value <= bound
        out.append(f"| {name} | {value:.2f} | {'yes' if met else 'no'} |")
    return out


def _inprocess_row(inproc: dict[str, float], n: int) -> str:
    ours, pipe, mlp = (inproc[f"{k}_{n}"] for k in ("ours", "pipe", "mlp"))
    return (
        f"| {n:,} | {ours * 1e6:,.1f} us | {pipe * 1e6:,.1f} us | {pipe / ours:.1f}x | "
        f"{mlp * 1e6:,.1f} us | {mlp / ours:.1f}x |"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def document(
    contenders: dict[str, Contender],
    runs: int,
    inproc: dict[str, float],
    through_app: dict[str, dict[str, float]],
    setup: dict[str, int],
) -> list[str]:
    """BENCHMARKS.md's lines. `setup` holds connections, seconds and slices."""
    return [
        *_header(setup),
        *[line for run in range(runs) for line in _run(contenders, run, inproc)],
        "## In-process prediction (no HTTP)",
        "",
        "The serving path (scaler folded into the first layer) against scikit-learn's "
        "`predict_proba` on the served network's weights, best of repeated timings: for one "
        "patient `Predictor.assess`, what /predict runs (the served network, its 20 bootstrap "
        "members and the warnings: more work than scikit-learn does); for 100,000 "
        "`Predictor.probabilities`, the served network alone:",
        "",
        "| rows | this service | sklearn pipeline | speed-up | sklearn MLPClassifier alone "
        "(pre-scaled input) | speed-up |",
        "|---|---|---|---|---|---|",
        *[_inprocess_row(inproc, n) for n in (1, 100_000)],
        "",
        f"One patient with `st_slope`, `num_major_vessels` and `thal` null (`Predictor.assess`, "
        f"median of single calls): {inproc['missing_3'] * 1e3:.2f} ms (target: at most 2 ms, "
        f"{'met' if inproc['missing_3'] <= 0.002 else 'not met'}).",
        "",
        "## Through the app, no sockets",
        "",
        "Microseconds per request with the ASGI app called directly (`python -m "
        "benchmarks.asgi`), best of 9 alternating rounds: what the application adds per "
        "request, without the HTTP server and the kernel, which cost the same for every "
        "FastAPI app. On a server every figure is larger and differences grow (colder "
        "caches), so this table is for comparing changes, the tables above for the figures.",
        "",
        *asgi.table(through_app),
        "",
    ]


def _header(setup: dict[str, int]) -> list[str]:
    connections, seconds, slices = setup["connections"], setup["seconds"], setup["slices"]
    return [
        "# Benchmarks",
        "",
        f"`make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores ({_cpu_model()}), Linux {platform.release()}, Python "
        f"{platform.python_version()}. Versions: fastapi {version('fastapi')}, uvicorn "
        f"{version('uvicorn')}, numpy {version('numpy')}, scikit-learn "
        f"{version('scikit-learn')}, MLServer 1.7.1, BentoML 1.4.40.",
        "",
        f"Each server pinned to core 0 (the 2-worker row is not pinned), wrk (1 thread) on "
        f"core 1, {connections} connections, {seconds} s per load, loopback. Every "
        "server answers with the same model: this service's weights, and for the others a "
        "scikit-learn pipeline (StandardScaler + MLPClassifier((8,))) carrying the same "
        "weights; 'first correct answer' means the example patient's probability matches "
        "this service's to 1e-9. RSS is the whole process tree after the load. The ceiling "
        f"and this service (1 worker) run side by side and their loads alternate in {slices} "
        f"slices of {max(1, seconds // slices)} s, so that a slow spell of the shared "
        "machine hits both; their p50 and p99 are the median over the slices. This "
        "service runs with the record off (AUDIT=off) here, like the other servers, which "
        "keep none; 'The record' below measures what keeping it costs.",
        "",
    ]


def _run(contenders: dict[str, Contender], run: int, inproc: dict[str, float]) -> list[str]:
    by_name = {k: c.results[run] for k, c in contenders.items()}
    return [
        f"## Run {run + 1}",
        "",
        *table(list(contenders.values()), run, contenders["raw-asgi"]),
        "",
        *verdicts(by_name, inproc),
        "",
    ]


def explanations(inproc: dict[str, float], route: Load) -> list[str]:
    """The explanation section: in-process against shap, and /explain served."""
    met = inproc["ours_s"] <= 0.010
    return [
        "## Explanations",
        "",
        "One patient (the example patient) explained in-process, median of repeated calls "
        "(`python -m benchmarks.explain`):",
        "",
        *explain.table(inproc),
        "",
        f"Target: one patient explained in <= 10 ms (median): "
        f"{inproc['ours_s'] * 1e3:.2f} ms, {'met' if met else 'NOT met'}.",
        "",
        "`POST /explain` through this service (1 worker, pinned, wrk as above; each "
        "explanation runs in a worker thread, at most two at once):",
        "",
        "| route | requests/s | p50 | p99 | non-2xx |",
        "|---|---|---|---|---|",
        f"| /explain | {route.rps:,.1f} | {route.p50_ms:.1f} ms | {route.p99_ms:.1f} ms | "
        f"{route.non_2xx} |",
        "",
    ]
