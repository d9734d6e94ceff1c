"""What an operator relies on: API key, body size limit, request ids, JSON
request logs without patient values, Prometheus metrics."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.observability.events import RequestEvent
from app.observability.logs import write_request_lines
from app.observability.telemetry import Telemetry
from model.features import EXAMPLE_PATIENT
from tests.conftest import HIGH_RISK_PATIENT
from tests.metrics_helpers import sample

PATIENT = dict(EXAMPLE_PATIENT)
KEY = "correct horse battery staple"


@pytest.fixture
def keyed(artifact_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_path=artifact_path, api_key=KEY))) as c:
        yield c


@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
def test_api_key_is_required_when_set(keyed: TestClient, route: str) -> None:
    body = PATIENT if route == "/predict" else {"patients": [PATIENT]}
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": KEY[:-1]},
    ):
        r = keyed.post(route, json=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    assert keyed.post(route, json=body, headers={"X-API-Key": KEY}).status_code == 200
    assert (
        keyed.post(route, json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    )


def test_api_key_is_checked_before_the_body(keyed: TestClient) -> None:
    r = keyed.post("/predict", json={"thal": 99})
    assert r.status_code == 401


def test_health_ready_and_metrics_stay_open_with_a_key(keyed: TestClient) -> None:
    for route in ("/health", "/ready", "/metrics", "/model", "/openapi.json"):
        assert keyed.get(route).status_code == 200, route


def test_without_a_key_setting_predict_is_open(client: TestClient) -> None:
    assert client.post("/predict", json=PATIENT).status_code == 200


def test_docs_declare_security_exactly_when_it_is_enforced(
    keyed: TestClient, client: TestClient
) -> None:
    open_spec = client.get("/openapi.json").json()
    assert "security" not in open_spec["paths"]["/predict"]["post"]
    # the record always needs an audit-scoped key, keys set or not
    assert open_spec["paths"]["/audit/predictions"]["get"]["security"]
    spec = keyed.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key, when API_KEY is set.",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/predict"]["post"]["security"]
    assert "security" not in spec["paths"]["/health"]["get"]
    assert "401" in spec["paths"]["/predict"]["post"]["responses"]


@pytest.fixture
def small_limit(artifact_path: Path) -> Iterator[TestClient]:
    settings = Settings(model_path=artifact_path, max_body_bytes=4096)
    with TestClient(create_app(settings)) as c:
        yield c


def test_body_over_the_limit_gets_413(small_limit: TestClient) -> None:
    r = small_limit.post("/predict/batch", json={"patients": [PATIENT] * 30})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert "4096 bytes" in r.json()["error"]["message"]
    assert small_limit.post("/predict/batch", json={"patients": [PATIENT] * 5}).status_code == 200


def test_streamed_body_over_the_limit_gets_413(small_limit: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1000  # no Content-Length: sent chunked

    r = small_limit.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert small_limit.post("/predict", json=PATIENT).status_code == 200


def test_bad_content_length_is_400(small_limit: TestClient) -> None:
    r = small_limit.post(
        "/predict",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "abc"},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": "invalid_content_length",
            "message": "Content-Length is not a number.",
            "details": [],
        }
    }
    # and the next request on the same app is unaffected
    assert small_limit.post("/predict", json=PATIENT).status_code == 200


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    r = client.post("/predict", json=PATIENT, headers={"X-Request-ID": "trace-42.a:b"})
    assert r.headers["x-request-id"] == "trace-42.a:b"
    generated = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # An id that could forge log lines or is too long is replaced, not echoed.
    for bad in ("a b", "x" * 129, 'x"}, {"admin": true'):
        echoed = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert echoed != bad and re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert client.get("/nowhere").headers["x-request-id"]


def test_generated_request_ids_are_in_time_order(client: TestClient) -> None:
    """Their first 48 bits are the milliseconds since the epoch, so the
    record's request_id index grows at its end."""
    ids = []
    for _ in range(3):
        before = int(time.time() * 1000)
        ids.append(client.get("/health").headers["x-request-id"])
        after = int(time.time() * 1000)
        assert before <= int(ids[-1][:12], 16) <= after
        time.sleep(0.002)  # the next one in a later millisecond
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert len({i[12:] for i in ids}) == 3  # and 80 random bits each


def _request_lines(text: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "request"]


def test_one_json_log_line_per_request_without_patient_values(
    client: TestClient, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    client.post(
        "/predict",
        json={**PATIENT, "serum_cholesterol": 271.828},
        headers={"X-Request-ID": "req-1"},
    )
    client.post("/predict", json={**PATIENT, "serum_cholesterol": "271.828"})
    client.get("/ready")
    client.app.state.telemetry.flush()  # type: ignore[attr-defined]  # lines come in batches
    err = capfd.readouterr().err
    assert "271.828" not in err
    lines = _request_lines(err)
    assert [(line["route"], line["status"]) for line in lines] == [
        ("/predict", 200),
        ("/predict", 422),
        ("/ready", 200),
    ]
    first = lines[0]
    assert set(first) >= {
        "time",
        "level",
        "method",
        "route",
        "status",
        "latency_ms",
        "request_id",
        "model_version",
    }
    assert first["request_id"] == "req-1" and first["method"] == "POST"
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0
    assert isinstance(first["model_version"], str) and first["model_version"].startswith("0.")


def test_metrics_count_requests_predictions_and_latency(client: TestClient) -> None:
    before = client.get("/metrics").text
    high = HIGH_RISK_PATIENT
    client.post("/predict", json=PATIENT)
    client.post("/predict/batch", json={"patients": [PATIENT, high, high]})
    client.post("/predict", json={"thal": 1})
    after = client.get("/metrics").text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("heart_http_requests_total", route="/predict", status="200") == 1
    assert delta("heart_http_requests_total", route="/predict/batch", status="200") == 1
    assert delta("heart_http_requests_total", route="/predict", status="422") == 1
    assert delta("heart_predictions_total", label="presence") == 2
    assert delta("heart_predictions_total", label="absence") == 2
    assert delta("heart_http_request_duration_seconds_count", route="/predict") == 2
    assert sample(after, "heart_model_info") == 1
    assert 'heart_model_info{sha256="' in after


def test_request_log_writes_whole_lines_in_batches_below_pipe_buf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[str] = []

    class Stderr:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stderr", Stderr())
    write_request_lines(
        RequestEvent(time.time(), "POST", "/predict", 200, 0.0012, f"id-{i}", None)
        for i in range(100)
    )
    lines = "".join(writes).splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"id-{i}" for i in range(100)]
    assert all(len(w.encode()) <= 4096 and w.endswith("\n") for w in writes)  # atomic on a pipe
    assert len(writes) <= 10  # batched: far fewer writes than lines


def test_telemetry_is_flushed_when_full_or_old(monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[tuple[str, list[str]]] = []
    telemetry = Telemetry(
        sinks=[
            lambda events: flushed.append(("metrics", [r.request_id for r in events])),
            lambda events: flushed.append(("log", [r.request_id for r in events])),
        ]
    )
    now = 1000.0
    monkeypatch.setattr("app.observability.telemetry.time.time", lambda: now)
    full = Telemetry.MAX_EVENTS
    for i in range(full - 1):
        telemetry.observe("GET", "/health", 200, 0.001, f"id-{i}", None)
    assert flushed == []  # nothing counted or written on the request path
    telemetry.observe("GET", "/health", 200, 0.001, "last", None)
    ids = [f"id-{i}" for i in range(full - 1)] + ["last"]
    assert flushed == [("metrics", ids), ("log", ids)]
    flushed.clear()
    telemetry.observe("GET", "/health", 200, 0.001, "a", None)
    now += Telemetry.MAX_DELAY  # the pending record is now old enough
    telemetry.observe("GET", "/health", 200, 0.001, "b", None)
    assert flushed == [("metrics", ["a", "b"]), ("log", ["a", "b"])]
    telemetry.flush()  # nothing pending: nothing done
    assert len(flushed) == 2


def test_telemetry_flushes_periodically_and_at_stop() -> None:
    import asyncio

    flushed: list[str] = []

    async def scenario() -> None:
        telemetry = Telemetry(sinks=[lambda events: flushed.extend(r.route for r in events)])
        await telemetry.start()
        telemetry.observe("GET", "/idle", 200, 0.001, "a", None)
        await asyncio.sleep(Telemetry.MAX_DELAY * 2.5)
        assert flushed == ["/idle"]  # written without a new request coming
        telemetry.observe("GET", "/last", 200, 0.001, "b", None)
        await telemetry.stop()

    asyncio.run(scenario())
    assert flushed == ["/idle", "/last"]


def test_apps_do_not_share_telemetry(artifact_path: Path) -> None:
    settings = Settings(model_path=artifact_path)
    first, second = create_app(settings), create_app(settings)
    assert first.state.telemetry is not second.state.telemetry


@pytest.mark.parametrize("asked", [False, True])
def test_fastapi_opentelemetry_looks_for_providers_only_when_asked(
    artifact_path: Path, monkeypatch: pytest.MonkeyPatch, asked: bool
) -> None:
    from opentelemetry import trace

    looked = []
    real = trace.get_tracer_provider

    def counted() -> trace.TracerProvider:
        looked.append(1)
        return real()

    if asked:
        monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    else:
        monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    with TestClient(create_app(Settings(model_path=artifact_path, audit="off"))) as c:
        monkeypatch.setattr(trace, "get_tracer_provider", counted)
        for _ in range(3):
            assert c.post("/predict", json=PATIENT).status_code == 200
    assert (len(looked) >= 3) if asked else not looked
