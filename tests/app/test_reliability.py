"""Clients that misbehave at the connection level, driven through the ASGI
interface itself (no sockets), so that what the client does is exact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.observability.events import RequestEvent
from benchmarks.asgi import request_scope
from model.features import EXAMPLE_PATIENT


def _scope(path: str, length: int) -> dict[str, Any]:
    """A POST whose headers announce `length` bytes of JSON body."""
    scope = request_scope(path, b"")
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    return {**scope, "headers": [*headers, (b"content-length", b"%d" % length)], "state": {}}


def _serve_once(app: FastAPI, path: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the app's lifespan, one request whose client sends `messages`,
    and the shutdown; return what the app sent."""
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        startup_done, stop = asyncio.Event(), asyncio.Event()
        lifespan_in = iter([{"type": "lifespan.startup"}])

        async def lifespan_receive() -> dict[str, Any]:
            message = next(lifespan_in, None)
            if message is not None:
                return message
            await stop.wait()
            return {"type": "lifespan.shutdown"}

        async def lifespan_send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                startup_done.set()

        lifespan = asyncio.create_task(
            app(
                {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                lifespan_receive,
                lifespan_send,
            )
        )
        await startup_done.wait()
        incoming = iter(messages)

        async def receive() -> dict[str, Any]:
            message = next(incoming, None)
            if message is None:
                await asyncio.sleep(3600)  # the client sends nothing more
            return message  # type: ignore[return-value]

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope(path, 300), receive, send)
        stop.set()
        await lifespan

    asyncio.run(scenario())
    return sent


@pytest.fixture
def observed(artifact_path: Path) -> Iterator[tuple[FastAPI, list[RequestEvent]]]:
    app = create_app(Settings(model_path=artifact_path))
    events: list[RequestEvent] = []
    app.state.telemetry.sinks = (*app.state.telemetry.sinks, events.extend)
    yield app, events


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/explain", "/explain/batch"])
def test_a_client_gone_before_its_body_is_499_at_info_without_traceback(
    observed: tuple[FastAPI, list[RequestEvent]],
    path: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    app, events = observed
    half_a_body = {"type": "http.request", "body": b'{"age": 5', "more_body": True}
    sent = _serve_once(app, path, [half_a_body, {"type": "http.disconnect"}])
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
    assert [(r.route, r.status) for r in events] == [(path, 499)]
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line[:1] == "{"]
    closed = [line for line in lines if "client closed" in line["message"]]
    assert len(closed) == 1 and closed[0]["level"] == "info" and "exception" not in closed[0]
    assert not [line for line in lines if line["level"] in ("error", "critical")]
    assert "Traceback" not in capfd.readouterr().err


def test_over_max_concurrency_is_503_with_retry_after_and_probes_still_answer(
    artifact_path: Path,
) -> None:
    """One request held inside the app (its body never completes) fills a
    limit of 1: the next scoring request is refused at once, /health is not."""
    app = create_app(Settings(model_path=artifact_path, max_concurrency=1))
    answers: dict[str, list[dict[str, Any]]] = {}

    async def scenario() -> None:
        from benchmarks.asgi import running

        async with running(app):
            await overload()

    async def overload() -> None:
        held = asyncio.Event()

        async def slow_receive() -> dict[str, Any]:
            if not held.is_set():
                held.set()
                return {"type": "http.request", "body": b'{"age": ', "more_body": True}
            await asyncio.sleep(3600)
            raise AssertionError

        async def collect(name: str, path: str) -> None:
            sent: list[dict[str, Any]] = []
            answers[name] = sent
            body = json.dumps(dict(EXAMPLE_PATIENT)).encode()
            chunks = iter([{"type": "http.request", "body": body, "more_body": False}])

            async def receive() -> dict[str, Any]:
                return next(chunks, {"type": "http.disconnect"})

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {**_scope(path, len(body)), "method": "GET" if path == "/health" else "POST"}
            await app(scope, receive, send)

        async def send_nowhere(message: dict[str, Any]) -> None:
            pass

        slow = asyncio.create_task(app(_scope("/predict", 300), slow_receive, send_nowhere))
        await held.wait()
        await collect("refused", "/predict")
        await collect("health", "/health")
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
        await collect("after", "/predict")

    asyncio.run(scenario())
    start, body = answers["refused"][0], answers["refused"][1]["body"]
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert json.loads(body)["error"]["code"] == "overloaded"
    assert answers["health"][0]["status"] == 200
    assert answers["after"][0]["status"] == 200  # the slot is given back
