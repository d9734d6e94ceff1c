"""What a hostile body costs: milliseconds per request through the ASGI app
(no sockets) for bodies of about 1 MiB built to be expensive, against a
valid /predict body.

    MODEL_PATH=artifacts/model.pkl python -m benchmarks.hostile [--rounds 5]

Every hostile body is under MAX_BODY_BYTES (1 MiB), so it is read and
validated; each answer must be a 4xx. Best of `--rounds` rounds of a few
requests each. The figures go to docs/performance.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.asgi import request, running
from benchmarks.harness import SINGLE_BODY, model_path
from model.features import EXAMPLE_PATIENT
from scripts import cli

LIMIT = 1024 * 1024 - 64


def _fill(make: Any) -> bytes:
    """The largest body `make(n)` under LIMIT bytes (n doubled, then bisected)."""
    low, high = 1, 2
    while len(make(high)) < LIMIT:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if len(make(mid)) < LIMIT else (low, mid)
    return make(low)  # type: ignore[no-any-return]


def hostile_bodies() -> dict[str, tuple[str, bytes]]:
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    return {
        "unknown keys": ("/predict", _fill(lambda n: dumps({f"k{i}": 1 for i in range(n)}))),
        "unknown keys in a batch patient": (
            "/predict/batch",
            _fill(lambda n: dumps({"patients": [{f"k{i}": 1 for i in range(n)}]})),
        ),
        "many batch entries, each wrong": (
            "/predict/batch", _fill(lambda n: dumps({"patients": [{}] * n}))
        ),
        "many batch entries, each valid but one": (
            "/predict/batch",
            _fill(lambda n: dumps({"patients": [EXAMPLE_PATIENT] * n + [{"thal": 1}]})),
        ),
        "deep nesting": ("/predict", _fill(lambda n: b'{"age":' + b"[" * n + b"]" * n + b"}")),
        "long string": ("/predict", _fill(lambda n: dumps({"age": "x" * n}))),
        "long number": ("/predict", _fill(lambda n: b'{"age":1' + b"0" * n + b"}")),
    }  # fmt: skip


async def _ms_per_request(app: Any, path: str, body: bytes, n: int) -> tuple[float, int]:
    begin = time.perf_counter()
    status = 0
    for _ in range(n):
        status = await request(app, path, body)
    return (time.perf_counter() - begin) / n * 1e3, status


async def measure(model: Path, rounds: int) -> dict[str, tuple[float, int, int]]:
    """Best ms per request, the status and the body size, by body."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(model_path=model))  # default limits: MAX_BATCH 1000
    bodies = {"valid patient (reference)": ("/predict", SINGLE_BODY), **hostile_bodies()}
    best: dict[str, tuple[float, int, int]] = {}
    async with running(app):
        for _ in range(rounds):
            for name, (path, body) in bodies.items():
                ms, status = await _ms_per_request(app, path, body, 3)
                if name not in best or ms < best[name][0]:
                    best[name] = (ms, status, len(body))
    return best


def table(best: dict[str, tuple[float, int, int]]) -> list[str]:
    reference = best["valid patient (reference)"][0]
    lines = [
        "| body | size | status | ms per request | more than a valid one |",
        "|---|---|---|---|---|",
    ]
    for name, (ms, status, size) in best.items():
        lines.append(f"| {name} | {size:,} B | {status} | {ms:.2f} | {ms - reference:+.2f} ms |")
    return lines


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported")
    args = parser.parse_args()
    model = model_path()
    print("\n".join(table(asyncio.run(measure(model, args.rounds)))))


if __name__ == "__main__":
    main()
