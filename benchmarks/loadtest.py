"""Bounded load test of this service, loopback only (`make loadtest`).

    python -m benchmarks.loadtest [--seconds 30] [--connections 64]

Starts `python -m app` pinned to core 0, warms it up, then drives it with
wrk (Debian's package) on core 1: `--seconds` at `--connections` on
/predict, then on /predict/batch with 100 patients. Reports requests/s,
p50/p99 latency, non-2xx and socket errors, and the server's RSS at idle,
after warm-up and after the load. Writes reports/loadtest.md. Stops by itself.
Targets: zero errors; RSS growth under the load below 10% (measured from
after warm-up, once first-use allocations are done).
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.harness import (
    BATCH,
    BATCH_BODY,
    ROOT,
    SINGLE_BODY,
    Load,
    model_path,
    rss_mib,
    run_wrk,
    started,
)
from scripts import cli

OVERLOAD = 1000
"""Connections of the overload case."""


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=30, help="seconds of load per route")
    parser.add_argument("--connections", type=int, default=64, help="wrk's connections")
    parser.add_argument("--port", type=int, default=8765, help="the service's port")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports" / "loadtest.md", help="the report written"
    )
    args = parser.parse_args(argv)
    url = f"http://127.0.0.1:{args.port}"
    model = str(model_path())
    single, batch = SINGLE_BODY, BATCH_BODY
    env = {"HOST": "127.0.0.1", "PORT": str(args.port), "MODEL_PATH": model, "WORKERS": "1"}
    ready = lambda: httpx.get(f"{url}/ready", timeout=1).status_code == 200  # noqa: E731
    with started([sys.executable, "-m", "app"], ready, env=env) as server:
        idle = rss_mib(server.pids)
        run_wrk(f"{url}/predict", single, args.connections, 3)  # warm-up
        run_wrk(f"{url}/predict/batch", batch, args.connections, 3)
        warm = rss_mib(server.pids)
        loads = {
            "/predict": run_wrk(f"{url}/predict", single, args.connections, args.seconds),
            f"/predict/batch ({BATCH} patients)": run_wrk(
                f"{url}/predict/batch", batch, args.connections, args.seconds
            ),
        }
        after = rss_mib(server.pids)
        overload = _overload(url, min(args.seconds, 10))

    growth = (after - warm) / warm * 100
    errors = sum(load.non_2xx + load.socket_errors for load in loads.values())
    lines = [
        "# Load test",
        "",
        f"`make loadtest` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores: server (`python -m app`, 1 worker) on core 0, wrk (1 thread) on "
        f"core 1, {args.connections} connections, {args.seconds} s per route, loopback.",
        "",
        "| route | requests/s | patients/s | p50 | p99 | non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, load in loads.items():
        per = BATCH if "batch" in name else 1
        lines.append(
            f"| {name} | {load.rps:,.0f} | {load.rps * per:,.0f} | {load.p50_ms:.2f} ms | "
            f"{load.p99_ms:.2f} ms | {load.non_2xx} | {load.socket_errors} |"
        )
    lines += [
        *_overload_lines(overload),
        f"Server RSS: {idle:.1f} MiB at idle, {warm:.1f} MiB after a 6 s warm-up, "
        f"{after:.1f} MiB after the load ({growth:+.1f}% from warm-up).",
        "",
        f"Targets: zero errors — {'met' if errors == 0 else f'NOT met ({errors})'}; "
        f"memory growth under 10% — {'met' if growth < 10 else 'NOT met'}.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if errors == 0 and growth < 10 else 1


def _overload(url: str, seconds: int) -> dict[str, Load]:
    """More connections than a worker serves at once: 503s, not waiting."""
    return {
        f"{path} at {OVERLOAD} connections": run_wrk(
            f"{url}{path}", SINGLE_BODY, OVERLOAD, seconds, timeout="1s"
        )
        for path in ("/predict", "/explain")
    }


def _overload_lines(overload: dict[str, Load]) -> list[str]:
    met = all(x.socket_errors == 0 for x in overload.values())
    return [
        "",
        f"Overload: {OVERLOAD} connections, wrk's timeout 1 s (a request not answered within "
        "1 s counts as a socket error), MAX_CONCURRENCY at its default; "
        "non-2xx are 503 `overloaded` answers with Retry-After:",
        "",
        "| load | requests/s | p50 | p99 | non-2xx (503) | socket errors |",
        "|---|---|---|---|---|---|",
        *[
            f"| {name} | {load.rps:,.0f} | {load.p50_ms:.1f} ms | {load.p99_ms:.1f} ms | "
            f"{load.non_2xx} | {load.socket_errors} |"
            for name, load in overload.items()
        ],
        "",
        "Target: every request answered within 1 s under overload — "
        f"{'met' if met else 'NOT met'}.",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
