"""The risk page's speed (part of `make bench`): a SMART launch from the
loopback test EHR (tests/smart_ehr.py), timed from the callback to the
rendered page (the code exchange, 12 FHIR reads, the explanation, the
record's row, the HTML), and a what-if (`POST /app/answer`). The targets:
p50 <= 150 ms and <= 30 ms. Each is also given as a ratio to /explain for
the same patient, measured in the same run against the same server.

    python -m benchmarks.page [--launches 40] [--updates 200]

The service runs pinned to core 0 (1 worker, the record on, strict SQLite,
as by default); the test EHR runs in this process. Requests go one after
the other: the wait of one clinician. Before timing, the page's
probability is checked against /predict's for the same values.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchmarks import cds
from benchmarks.contenders.factories import ours
from benchmarks.harness import model_path, started
from scripts import cli
from tests.smart_ehr import SmartEhr

TARGETS_MS = {"callback to rendered page": 150.0, "what-if update": 30.0}


def _timed(work: Callable[[], Any], rounds: int) -> list[float]:
    """Milliseconds each of `rounds` calls of `work` took."""
    times = []
    for _ in range(rounds):
        begin = time.perf_counter()
        work()
        times.append((time.perf_counter() - begin) * 1000)
    return times


def _launch_to_callback(browser: httpx.Client, ehr: SmartEhr, base: str) -> str:
    """Launch, and authorize at the EHR: the callback URL, not yet followed."""
    started_at = browser.get(ehr.launch_url(base))
    return str(httpx.get(started_at.headers["location"]).headers["location"])


def _page(browser: httpx.Client, callback: str) -> str:
    opened = browser.get(callback)
    if opened.status_code != 303:
        raise AssertionError(f"the callback answered {opened.status_code}")
    page = browser.get(opened.headers["location"])
    if page.status_code != 200:
        raise AssertionError(f"/app answered {page.status_code}")
    return page.text


def measure(model: Path, launches: int, updates: int, port: int) -> dict[str, list[float]]:
    """Milliseconds of each launch's callback-to-page, each what-if, and /explain."""
    base = f"http://127.0.0.1:{port}"
    c = ours(port, model, 1)
    _, resources = cds.bodies("")  # the example chart of examples/cds-hooks-call.json
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    with (
        tempfile.TemporaryDirectory(prefix="heart-page-") as tmp,
        SmartEhr(resources, patient=patient["id"]) as ehr,
    ):
        ehr.redirect_uri = f"{base}/smart/callback"
        clients = Path(tmp) / "smart-clients.json"
        clients.write_text(json.dumps([ehr.client_entry()]))
        env = {**c.env, "AUDIT": "on", "AUDIT_DSN": f"sqlite:///{tmp}/audit.sqlite3",
               "SMART_CLIENTS_FILE": str(clients), "PUBLIC_BASE_URL": base}  # fmt: skip
        with started(c.command, lambda: httpx.get(f"{base}/ready").is_success, env):
            row = {r.field: r.value for r in cds._readings(resources)}
            expected = httpx.post(f"{base}/predict", json=row).json()["probability"]
            pages, browser = [], httpx.Client(base_url=base)
            for _ in range(launches):
                browser = httpx.Client(base_url=base)  # a new browser each launch
                callback = _launch_to_callback(browser, ehr, base)
                path = urlsplit(callback)
                begin = time.perf_counter()
                html = _page(browser, f"{path.path}?{path.query}")
                pages.append((time.perf_counter() - begin) * 1000)
            shown = re.search(r'data-percent="(\d+)"', html)
            if not shown or shown.group(1) != f"{expected * 100:.0f}":
                raise AssertionError("the page's probability is not /predict's")
            changed = {**row, "resting_blood_pressure": 150.0}
            what_if = _timed(lambda: browser.post("/app/answer", json=changed).raise_for_status(),
                             updates)  # fmt: skip
            plain = httpx.Client(base_url=base)  # kept alive, as the browser's is
            explain = _timed(lambda: plain.post("/explain", json=changed).raise_for_status(),
                             updates)  # fmt: skip
    return {"callback to rendered page": pages, "what-if update": what_if, "/explain": explain}


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def section(times: dict[str, list[float]]) -> list[str]:
    """The risk page section of BENCHMARKS.md."""
    explain = statistics.median(times["/explain"])
    lines = [
        "## The risk page",
        "",
        "`python -m benchmarks.page`: this service (1 worker, pinned, the record on) and the "
        "loopback test EHR (tests/smart_ehr.py). A launch is timed from the callback to the "
        "rendered page: the code exchange, 12 FHIR reads, the explanation, the record's row and "
        "the HTML. A what-if is `POST /app/answer`. One request after another; the ratio is "
        "to /explain for the same patient, in the same run.",
        "",
        "| step | runs | p50 | p95 | p50 / /explain's | target p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name, target in TARGETS_MS.items():
        values = times[name]
        p50 = statistics.median(values)
        verdict = "met" if p50 <= target else "NOT met"
        lines.append(
            f"| {name} | {len(values)} | {p50:.1f} ms | {_p(values, 95):.1f} ms | "
            f"{p50 / explain:.2f}x | <= {target:.0f} ms, {verdict} |"
        )
    lines.append(f"| /explain (the baseline) | {len(times['/explain'])} | {explain:.1f} ms | "
                 f"{_p(times['/explain'], 95):.1f} ms | 1.00x | - |")  # fmt: skip
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--launches", type=int, default=40, help="SMART launches timed")
    parser.add_argument("--updates", type=int, default=200, help="what-ifs timed")
    parser.add_argument("--port", type=int, default=8950, help="the service's port")
    args = parser.parse_args(argv)
    model = model_path()
    print("\n".join(section(measure(model, args.launches, args.updates, args.port))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
