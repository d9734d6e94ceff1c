"""Microseconds per request through the ASGI app itself, no sockets: this
service (/predict and V2 infer) against the ceiling app, for one patient and
a 100-patient batch.

    MODEL_PATH=artifacts/model.pkl python -m benchmarks.asgi [--rounds 9]
    (also part of `make bench`)

Each app is called directly with a complete POST, the way uvicorn would call
it, in one event loop; rounds alternate between the apps and the best round
counts. It isolates what the application adds per request from what the
HTTP server and the kernel add (the same for every FastAPI app), which is
how the changes in docs/performance.md were chosen. Not a substitute for
`make bench`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from benchmarks.harness import BATCH, BATCH_BODY, SINGLE_BODY, model_path, v2_body
from scripts import cli


def request_scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def request(app: Any, path: str, body: bytes) -> int:
    """One request; its status."""
    status = 0
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(request_scope(path, body), receive, send)
    return status


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """The app's lifespan around a block: its startup (the model is loaded
    there), then its shutdown (the record written and closed)."""
    to_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await to_app.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    message = await from_app.get()
    if message["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"startup failed: {message}")
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await task


async def _per_request_us(app: Any, path: str, body: bytes, n: int) -> float:
    begin = time.perf_counter()
    for _ in range(n):
        if await request(app, path, body) != 200:
            raise RuntimeError(f"{path} did not answer 200")
    return (time.perf_counter() - begin) / n * 1e6


async def measure(model: Path, rounds: int) -> dict[str, dict[str, float]]:
    """Best microseconds per request, by app and load."""
    from app.config import Settings
    from app.main import create_app
    from benchmarks.contenders.ceiling_app import app as ceiling

    ours = create_app(Settings(model_path=model, audit="off"))  # the record: benchmarks.record
    v2 = "/v2/models/heart-disease/infer"
    predict_loads = {
        "one patient": ("/predict", SINGLE_BODY, 1000),
        "batch of 100": ("/predict/batch", BATCH_BODY, 60),
    }
    rows: dict[str, tuple[Any, dict[str, tuple[str, bytes, int]]]] = {
        "ceiling app": (ceiling, predict_loads),
        "this service": (ours, predict_loads),
        "this service, V2 infer": (
            ours,
            {
                "one patient": (v2, v2_body("patients", 1), 1000),
                "batch of 100": (v2, v2_body("patients", BATCH), 60),
            },
        ),
    }
    best: dict[str, dict[str, float]] = {name: {} for name in rows}
    async with running(ceiling), running(ours):
        for app, loads in rows.values():  # warm-up
            for path, body, _ in loads.values():
                await _per_request_us(app, path, body, 50)
        for _ in range(rounds):
            for name, (app, loads) in rows.items():
                for load, (path, body, n) in loads.items():
                    us = await _per_request_us(app, path, body, n)
                    best[name][load] = min(us, best[name].get(load, us))
    return best


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the median is reported")
    args = parser.parse_args()
    model = model_path()
    print("\n".join(table(run(model, args.rounds))))


def run(model: Path, rounds: int) -> dict[str, dict[str, float]]:
    """`measure` in a uvloop event loop. The apps' log lines go to /dev/null,
    as the servers' do in `make bench`: written, but not onto the terminal."""
    import uvloop

    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        return uvloop.run(measure(model, rounds))


def table(best: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| app | one patient | 100-patient batch |", "|---|---|---|"]
    for name, figures in best.items():
        lines.append(
            f"| {name} | {figures['one patient']:.1f} us | {figures['batch of 100']:.1f} us |"
        )
    return lines


if __name__ == "__main__":
    main()
