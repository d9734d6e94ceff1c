"""CDS Hooks calls through this service (part of `make bench`): the example
call (examples/cds-hooks-call.json) with its full prefetch, and the same
call with no prefetch, every key read from a FHIR server on loopback (the
test EHR's, tests/ehr.py: 12 reads for the 13 inputs). EHRs give a service a
few hundred milliseconds; the targets are p99 <= 20 ms and <= 100 ms.

    python -m benchmarks.cds [--seconds 10]

This service runs pinned to core 0 (1 worker), wrk on core 1; the FHIR
server runs in this process, unpinned. Each answer is checked first: the
card's probability must equal /predict's for the same patient to 1e-12.
The targets are judged with one connection (one EHR's calls, one after the
other: the latency a clinician waits); four connections show the queueing
when calls arrive together (each call explains the patient, ~4 ms of CPU).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from benchmarks.contenders.factories import ours
from benchmarks.harness import ROOT, Load, model_path, run_wrk, started
from scripts import cli
from tests.ehr import FhirServer

CALL = ROOT / "examples" / "cds-hooks-call.json"
ROUTE = "/cds-services/heart-disease-risk"
TARGETS_MS = {"full prefetch": 20.0, "no prefetch, 12 reads from a FHIR server": 100.0}


def bodies(fhir_url: str) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The two call bodies, and the resources the FHIR server must hold."""
    call = json.loads(CALL.read_text())
    resources = []
    for value in call["prefetch"].values():
        entries = (
            value.get("entry", []) if value["resourceType"] == "Bundle" else [{"resource": value}]
        )
        resources += [e["resource"] for e in entries]
    unfetched = {k: v for k, v in call.items() if k != "prefetch"} | {"fhirServer": fhir_url}
    names = list(TARGETS_MS)
    return {
        names[0]: json.dumps(call).encode(),
        names[1]: json.dumps(unfetched).encode(),
    }, resources


def _checked(url: str, body: bytes, expected: float) -> None:
    card = httpx.post(url, content=body, headers={"Content-Type": "application/json"}).json()
    resource = card["cards"][0]["suggestions"][0]["actions"][0]["resource"]
    got = resource["prediction"][0]["probabilityDecimal"]
    if abs(got - expected) > 1e-12:
        raise AssertionError(f"the card says {got}, /predict {expected}")


CONNECTIONS = (1, 4)


def measure(model: Path, seconds: int, port: int) -> dict[tuple[str, int], Load]:
    """wrk's figures for each call body and number of connections."""
    _, resources = bodies("")
    c = ours(port, model, 1)
    base = f"http://127.0.0.1:{port}"
    with (
        FhirServer(resources) as fhir,
        started(c.command, lambda: httpx.get(f"{base}/ready").is_success, c.env),
    ):
        calls, _ = bodies(fhir.url)
        patient = {r.field: r.value for r in _readings(resources)}
        expected = httpx.post(f"{base}/predict", json=patient).json()["probability"]
        loads = {}
        for name, body in calls.items():
            _checked(base + ROUTE, body, expected)
            for connections in CONNECTIONS:
                loads[name, connections] = run_wrk(base + ROUTE, body, connections, seconds)
    return loads


def _readings(resources: list[dict[str, Any]]) -> Any:
    from datetime import UTC, datetime

    from app.clinical.fhir_inputs import inputs

    patient = next(r for r in resources if r["resourceType"] == "Patient")
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    return inputs(patient, observations, datetime.now(UTC).date())


def section(loads: dict[tuple[str, int], Load]) -> list[str]:
    """The CDS Hooks section of BENCHMARKS.md."""
    lines = [
        "## CDS Hooks calls",
        "",
        f"`POST {ROUTE}` with examples/cds-hooks-call.json (`python -m benchmarks.cds`): this "
        "service (1 worker, pinned), wrk on the other core. Without prefetch the service "
        "reads all 12 keys from a FHIR server on loopback (concurrently, within "
        "FHIR_TIMEOUT) before it answers. Each card's probability was checked against "
        "/predict's first. Targets are judged at one connection (an EHR's calls one after "
        "another); four connections show calls queueing for the one core.",
        "",
        "| call | connections | requests/s | p50 | p99 | target p99 | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, connections), load in loads.items():
        target = TARGETS_MS[name]
        verdict = ("met" if load.p99_ms <= target else "NOT met") if connections == 1 else "-"
        lines.append(
            f"| {name} | {connections} | {load.rps:,.1f} | {load.p50_ms:.1f} ms | "
            f"{load.p99_ms:.1f} ms | <= {target:.0f} ms, {verdict} | {load.non_2xx} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per call")
    parser.add_argument("--port", type=int, default=8950, help="the service's port")
    args = parser.parse_args(argv)
    model = model_path()
    loads = measure(model, args.seconds, args.port)
    print("\n".join(section(loads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
