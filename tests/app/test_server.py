"""End-to-end against real `python -m app` processes: body limit before the
body is read, several workers' metrics, concurrency, graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.mmap_dict import MmapedDict

from app.observability.telemetry import Telemetry
from model.features import EXAMPLE_PATIENT

pytestmark = pytest.mark.slow  # real server processes

PATIENT = dict(EXAMPLE_PATIENT)


def _patients(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            **PATIENT,
            "age": int(rng.integers(30, 80)),
            "thal": int(rng.choice([3, 6, 7])),
            "st_depression": round(float(rng.uniform(0, 5)), 1),
            "max_heart_rate": int(rng.integers(90, 200)),
        }
        for _ in range(n)
    ]


def _raw_request(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ")[1]), rest


def test_oversized_body_is_refused_before_it_is_sent(live_server: Any) -> None:
    with live_server(MAX_BODY_BYTES="10000") as server:
        sock = _raw_request(
            server.port,
            (
                b"POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 500000000\r\n\r\n{"patients": ['
            ),
        )
        start = time.monotonic()
        status, body = _read_response(sock)  # answered without the 500 MB ever arriving
        sock.close()
        assert status == 413 and time.monotonic() - start < 5
        assert json.loads(body)["error"]["code"] == "payload_too_large"
        assert httpx.post(f"{server.url}/predict", json=PATIENT).status_code == 200


def test_concurrent_answers_equal_sequential_answers(live_server: Any) -> None:
    patients = _patients(200)
    with live_server() as server, httpx.Client(base_url=server.url, timeout=10) as c:
        sequential = [c.post("/predict", json=p).json() for p in patients]

        def ask(p: dict[str, Any]) -> Any:
            with httpx.Client(base_url=server.url, timeout=10) as own:
                return own.post("/predict", json=p).json()

        with ThreadPoolExecutor(max_workers=16) as pool:
            concurrent = list(pool.map(ask, patients))
    assert concurrent == sequential
    assert len({r["probability"] for r in sequential}) > 50  # the patients really differ


def test_metrics_add_up_across_two_workers(live_server: Any, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    with live_server(WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as server:

        def ask(p: dict[str, Any]) -> int:
            with httpx.Client(base_url=server.url, timeout=10) as own:  # new connection each
                return own.post("/predict", json=p).status_code

        def answered_by_worker() -> dict[str, float]:
            """/predict 200s counted in each worker's own file, by pid."""
            counts = {}
            for f in metrics_dir.glob("counter_*.db"):
                values = MmapedDict.read_all_values_from_file(str(f))
                counts[f.stem.split("_")[-1]] = sum(
                    v
                    for key, v, *_ in values
                    if "heart_http_requests_total" in key and '"/predict"' in key and '"200"' in key
                )
            return counts

        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            # Until both workers have answered (the kernel picks who accepts).
            while sum(c > 0 for c in answered_by_worker().values()) < 2 and sent < 2000:
                assert set(pool.map(ask, _patients(40, seed=sent))) == {200}
                sent += 40
        # Each worker counts its requests in batches, at most MAX_DELAY late
        # (a scrape flushes the worker it lands on at once).
        time.sleep(3 * Telemetry.MAX_DELAY)
        totals = set()
        for _ in range(6):  # each scrape may land on either worker
            text = httpx.get(f"{server.url}/metrics", timeout=5).text
            line = next(
                x
                for x in text.splitlines()
                if x.startswith(
                    'heart_http_requests_total{method="POST",route="/predict",status="200"}'
                )
            )
            totals.add(float(line.rsplit(" ", 1)[1]))
        per_worker = answered_by_worker()
    assert sum(c > 0 for c in per_worker.values()) == 2  # both workers answered...
    assert sum(per_worker.values()) == sent
    assert totals == {float(sent)}  # ...and every scrape, whichever worker, sums them


def test_sigterm_lets_an_in_flight_request_finish(live_server: Any) -> None:
    body = json.dumps(PATIENT).encode()
    with live_server() as server:
        sock = _raw_request(
            server.port,
            (
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:20]
            ),
        )
        time.sleep(0.3)  # the request is in flight: headers read, body incomplete
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None  # still waiting for the request to finish
        sock.sendall(body[20:])
        status, answer = _read_response(sock)
        sock.close()
        assert status == 200 and 0 <= json.loads(answer)["probability"] <= 1
        # uvicorn shuts down gracefully, then re-raises SIGTERM on itself (as a
        # process killed by the signal would end), so -15 is the clean outcome.
        assert server.process.wait(timeout=10) in (0, -signal.SIGTERM)
        assert "Finished server process" in server.log()
        # New connections are no longer accepted once it has stopped.
        try:
            httpx.get(f"{server.url}/health", timeout=1)
            raise AssertionError("server still answering after SIGTERM")
        except httpx.TransportError:
            pass
