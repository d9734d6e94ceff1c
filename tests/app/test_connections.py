"""Clients that misbehave at the connection level, against a real server
(`python -m app`, whose HTTP protocol is `app.guards.connections`)."""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from model.features import EXAMPLE_PATIENT
from tests.conftest import Server

pytestmark = pytest.mark.slow  # real server processes

LiveServer = Callable[..., AbstractContextManager[Server]]


def _read_until_closed(sock: socket.socket, limit: float) -> bytes:
    sock.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data + b"<still open>"
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("sent", [b"", b"POST /predict HTTP/1.1\r\nHost: x\r\n", b"partial-body"])
def test_a_slow_request_gets_408_and_its_connection_is_closed(
    live_server: LiveServer, sent: bytes
) -> None:
    with live_server(REQUEST_TIMEOUT="1") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            if sent == b"partial-body":
                body = json.dumps(EXAMPLE_PATIENT).encode()
                sent = (
                    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body[:20])
                )
            sock.sendall(sent)
            begin = time.monotonic()
            answer = _read_until_closed(sock, 5)
            waited = time.monotonic() - begin
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code": "request_timeout"' in answer
        assert 0.8 < waited < 3
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'heart_connection_events_total{event="request_timeout"} 1.0' in metrics
        # nothing a client did shows as a 5xx
        assert 'status="5' not in metrics


def _median_latency(client: httpx.Client, rounds: int) -> float:
    """Median seconds of a /health and a /predict request."""
    times = []
    for _ in range(rounds):
        for method, path, body in (("GET", "/health", None), ("POST", "/predict", EXAMPLE_PATIENT)):
            begin = time.perf_counter()
            assert client.request(method, path, json=body).status_code == 200
            times.append(time.perf_counter() - begin)
    return sorted(times)[len(times) // 2]


SLOW_HEADERS = b"POST /predict HTTP/1.1\r\nHost: x\r\n"
SLOW_BODY = (
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(json.dumps(EXAMPLE_PATIENT)), b'{"age": 54')
)
"""Headers and the first 10 bytes of a body: each such request would hold a
place in the app (MAX_CONCURRENCY, 256) while its body trickled in, if the
protocol handed it on before the whole body was here."""


@pytest.mark.parametrize("sent", [SLOW_HEADERS, SLOW_BODY], ids=["headers", "body"])
def test_2000_slow_connections_do_not_slow_the_others(live_server: LiveServer, sent: bytes) -> None:
    """2,000 connections that send part of their headers, or their headers and
    the start of a body, and then nothing: /health and /predict keep their
    usual latency (never 503), and every slow connection gets 408 and is
    closed within REQUEST_TIMEOUT."""
    timeout = 5.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and (hard == resource.RLIM_INFINITY or hard >= 4096):  # the server inherits it
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    with live_server(REQUEST_TIMEOUT=str(timeout)) as server:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            usual = _median_latency(client, 50)
            slow = []
            for _ in range(2000):
                s = socket.create_connection(("127.0.0.1", server.port))
                s.sendall(sent)  # and nothing more
                slow.append(s)
            last_opened = time.monotonic()
            beside = _median_latency(client, 50)
        assert time.monotonic() - last_opened < timeout  # measured while all were open
        assert beside < max(3 * usual, usual + 0.005), (usual, beside)
        time.sleep(max(0.0, last_opened + timeout + 1.0 - time.monotonic()))
        closed = 0
        for s in slow:
            if _read_until_closed(s, 0.5).startswith(b"HTTP/1.1 408"):
                closed += 1
            s.close()
        assert closed == len(slow)


def test_urllib_reads_the_413_of_an_over_long_body(live_server: LiveServer) -> None:
    """urllib sends the whole body before reading the answer: without the
    lingering close it saw "connection reset by peer" instead."""
    with live_server() as server:
        body = b" " * (5 * 1024 * 1024)
        request = urllib.request.Request(
            f"{server.url}/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 413
        assert json.loads(caught.value.read())["error"]["code"] == "payload_too_large"
        assert httpx.get(f"{server.url}/health").status_code == 200


MISSING_THREE = {**EXAMPLE_PATIENT, "st_slope": None, "num_major_vessels": None, "thal": None}


def test_an_idle_service_never_sheds_after_a_long_request(live_server: LiveServer) -> None:
    """A client scoring batches of 50 patients with three fields missing, one
    after another, then a single patient and a body with a field left out:
    every answer is the one its request deserves (on main at c58ae8a, all
    but the first were 503, shed on the loop's stale lateness)."""
    batch = {"patients": [MISSING_THREE] * 50}
    with live_server() as server, httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [client.post("/predict/batch", json=batch).status_code for _ in range(5)]
        statuses.append(client.post("/predict", json=EXAMPLE_PATIENT).status_code)
        left_out = {k: v for k, v in EXAMPLE_PATIENT.items() if k != "age"}
        statuses.append(client.post("/predict", json=left_out).status_code)
    assert statuses == [200] * 6 + [422]


def test_single_patients_flow_beside_a_heavy_batch(live_server: LiveServer) -> None:
    """While 1,000 patients with fields missing are scored (a thread, off
    the event loop), single /predict calls keep being answered: many of
    them before the batch's answer, none of them 503."""
    batch = json.dumps({"patients": [MISSING_THREE] * 1000})
    with live_server(MAX_BATCH="1000") as server:
        done = threading.Event()
        batch_status: list[int] = []

        def post_batch() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                r = client.post(
                    "/predict/batch", content=batch, headers={"Content-Type": "application/json"}
                )
                batch_status.append(r.status_code)
            done.set()

        thread = threading.Thread(target=post_batch)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/predict", json=EXAMPLE_PATIENT)  # connected and warm
            thread.start()
            beside: list[int] = []
            while not done.is_set():
                beside.append(client.post("/predict", json=EXAMPLE_PATIENT).status_code)
        thread.join()
    assert batch_status == [200]
    assert len(beside) >= 10 and set(beside) == {200}, beside[:20]


def test_max_concurrency_sheds_at_the_door_keeping_or_closing_the_connection(
    live_server: LiveServer,
) -> None:
    """With MAX_CONCURRENCY=1 and one request inside the app (explaining 1,000
    patients, a few seconds), the next is answered 503 by the protocol itself:
    on a kept-alive connection, which then serves the next request; with
    Connection: close, after which the connection is closed. Probes still answer."""
    body = json.dumps(EXAMPLE_PATIENT).encode()
    long_batch = json.dumps({"patients": [EXAMPLE_PATIENT] * 1000}).encode()
    with live_server(MAX_CONCURRENCY="1", MAX_EXPLAIN_BATCH="1000") as server:
        holder = socket.create_connection(("127.0.0.1", server.port))
        holder.sendall(
            b"POST /explain/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(long_batch), long_batch)
        )
        time.sleep(0.3)  # the held request is now inside the app, being explained
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            request = (
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            sock.sendall(request)
            sock.settimeout(5)
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in first.lower()
            assert json.loads(first.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "overloaded"
            sock.sendall(request.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
            second = _read_until_closed(sock, 5)
            assert second.startswith(b"HTTP/1.1 503 ") and b"connection: close" in second
            assert not second.endswith(b"<still open>")
        v2 = httpx.post(f"{server.url}/v2/models/heart-disease/infer", json={"inputs": []})
        assert v2.status_code == 503 and isinstance(v2.json()["error"], str)  # V2's shape
        assert httpx.get(f"{server.url}/health").status_code == 200
        holder.settimeout(60)
        assert holder.recv(65536).startswith(b"HTTP/1.1 200 ")  # the held request completes
        holder.close()
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'heart_connection_events_total{event="shed"} 3.0' in metrics


def _memory_kib(pid: int, field: str) -> int:
    """VmRSS (resident now) or VmHWM (the most ever resident) of a process."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(field)


def test_bodies_held_before_the_app_share_one_budget(live_server: LiveServer) -> None:
    """300 connections each send all but 10 bytes of a 1 MiB body: the bodies
    held stay within BODY_BUDGET_BYTES (8 MiB here), those past it are
    answered 503 and closed, and the worker's memory never grows by much
    more than the budget (on main at c58ae8a: +800 MiB for 800 such bodies)."""
    mib = 1024 * 1024
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % mib
    )
    # the record off: its monitor reads the session's shared record, whose size varies
    budget = {"BODY_BUDGET_BYTES": str(8 * mib), "REQUEST_TIMEOUT": "30", "AUDIT": "off"}
    with live_server(**budget) as server:
        pid = server.process.pid
        before = _memory_kib(pid, "VmRSS")
        sockets, refused = [], 0
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", server.port))
            with contextlib.suppress(OSError):  # refused and closed while sending
                sock.sendall(head + b" " * (mib - 10))
            sockets.append(sock)
        for sock in sockets:
            sock.settimeout(0.5)  # a body within the budget waits for its last 10 bytes
            try:
                answer = sock.recv(65536)
                refused += answer.startswith(b"HTTP/1.1 503 ") and b"BODY_BUDGET_BYTES" in answer
            except TimeoutError:  # held, within the budget
                pass
            except OSError:
                refused += 1  # reset after the 503: the answer was dropped with the body
        peak = _memory_kib(pid, "VmRSS")  # the bodies within the budget are still held
        assert httpx.get(f"{server.url}/health").status_code == 200
        for sock in sockets:
            sock.close()
        time.sleep(0.5)
        assert httpx.post(f"{server.url}/predict", json=EXAMPLE_PATIENT).status_code == 200
        after = _memory_kib(pid, "VmRSS")
        metrics = httpx.get(f"{server.url}/metrics").text
    assert (peak - before) / 1024 < 8 + 48, (before, peak)  # the budget plus a constant
    assert (after - before) / 1024 < 8 + 48, (before, after)
    assert refused >= 290  # at most 8 bodies of 1 MiB fit the budget
    assert 'heart_connection_events_total{event="body_budget"}' in metrics


def test_answers_are_not_held_back_by_nagle_with_two_workers(live_server: LiveServer) -> None:
    """Several workers share a listening socket that asyncio does not see as
    TCP, so it did not set TCP_NODELAY: every answer waited ~40 ms for the
    client's delayed ACK. `app.guards.connections` sets it on every connection."""
    with live_server(WORKERS="2") as server, httpx.Client(base_url=server.url) as client:
        times = []
        for _ in range(30):
            begin = time.perf_counter()
            assert client.post("/predict", json=EXAMPLE_PATIENT).status_code == 200
            times.append(time.perf_counter() - begin)
    assert sorted(times)[len(times) // 2] < 0.02, sorted(times)


def _chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def test_bodies_enter_the_app_whole_chunked_or_after_100_continue(
    live_server: LiveServer,
) -> None:
    """The protocol keeps a body until it is whole: a chunked one is answered
    as a plain one (and a chunked one longer than MAX_BODY_BYTES gets the
    app's 413); a client that waits for `100 Continue` gets it at once."""
    body = json.dumps(EXAMPLE_PATIENT).encode()
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with live_server(MAX_BODY_BYTES="4096") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(5)
            sock.sendall(head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(5)
            chunked = b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            sock.sendall(head + chunked + _chunked(body, 50))
            answer = _read_until_closed(sock, 5)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["probability"] > 0
        too_long = json.dumps({"patients": [EXAMPLE_PATIENT] * 30}).encode()
        assert len(too_long) > 4096
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(5)
            sock.sendall(
                head.replace(b"/predict", b"/predict/batch")
                + b"Transfer-Encoding: chunked\r\n\r\n"
                + _chunked(too_long, 1000)
            )
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 413 "), answer
