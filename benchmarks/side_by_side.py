"""Serving contenders side by side: start them, load each route with wrk,
in alternating slices when there are several (used by `benchmarks.bench`
and `benchmarks.record`)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

import httpx
import numpy as np

from benchmarks.contenders.factories import Contender
from benchmarks.harness import Load, rss_mib, run_wrk, started

SLICES = 5
"""Alternating slices per route when two contenders are measured side by side."""


def serving(c: Contender, expected: float | None) -> Any:
    """`started(...)` for contender `c`: ready once it answers correctly."""
    path, body = c.single

    def correct() -> bool:
        r = httpx.post(
            c.url + path, content=body, timeout=2, headers={"content-type": "application/json"}
        )
        if r.status_code != 200:
            return False
        p = c.first_probability(r)
        return expected is None or p is None or abs(p - expected) < 1e-9

    return started(c.command, correct, env=c.env, cwd=c.cwd, pin=c.pinned)


def _loads(c: Contender) -> dict[str, tuple[str, bytes]]:
    return {"single": c.single, **({"batch": c.batch} if c.batch else {})}


def measure(
    group: list[Contender],
    expected: float | None,
    seconds: int,
    connections: int,
    slices: int = 1,
) -> list[dict[str, Any]]:
    """Start the contenders of `group` side by side (on their own ports),
    load each route of each for `seconds`, stop them; one result per
    contender. With several contenders, their loads alternate in `slices`
    slices of seconds / slices, so that a slow spell of the shared machine
    hits all of them, not only the one loaded at the time, in an order
    that changes each slice (`slice_order`), the disk flushed after each
    (`settle`); requests/s is then over all slices,
    and p50 and p99 are the median of the slices'."""
    with ExitStack() as stack:
        servers = [stack.enter_context(serving(c, expected)) for c in group]
        outs: list[dict[str, Any]] = [{"start_s": s.seconds_to_first_answer} for s in servers]
        for kind in _loads(group[0]):
            for c in group:  # warm-up
                path, body = _loads(c)[kind]
                run_wrk(c.url + path, body, connections, 2)
            settle()
            taken: list[list[Load]] = [[] for _ in group]
            for k in range(slices):
                for i in slice_order(len(group), k):
                    path, body = _loads(group[i])[kind]
                    taken[i].append(
                        run_wrk(group[i].url + path, body, connections, max(1, seconds // slices))
                    )
                    settle()
            for out, loads in zip(outs, taken, strict=True):
                out[kind] = combined(loads)
        for out, server in zip(outs, servers, strict=True):
            pids = server.pids
            out["rss_mib"] = rss_mib(pids)
            out["processes"] = len(pids)
    return outs


def settle() -> None:
    """Let the disk catch up before the next slice (`os.sync`): what a
    contender wrote is then flushed on its own time, not the next one's."""
    os.sync()


def slice_order(n: int, k: int) -> list[int]:
    """The order of `n` contenders' loads in slice `k`, from a Williams
    design: over n slices (2n for odd n) each contender comes right after
    each other one equally often, so that what one leaves behind (its
    writer's disk writes, a database's checkpoint) falls on all the others,
    not always on the one loaded next."""
    base, low, high = [0], 1, n - 1
    while low <= high:
        base.append(low)
        low += 1
        if low <= high:
            base.append(high)
            high -= 1
    if n % 2 and (k // n) % 2:
        base.reverse()
    return [(x + k) % n for x in base]


def slices_for(n: int) -> int:
    """How many slices `n` contenders get: SLICES, or for an odd number the
    2n over which `slice_order` is balanced (one cycle of n leaves some
    contenders never loaded right after some others)."""
    return 2 * n if n % 2 and n > 1 else SLICES


def measure_route(c: Contender, path: str, body: bytes, seconds: int, connections: int) -> Load:
    """One more route of contender `c`, alone: warm-up, then `seconds` of load."""
    with serving(c, None):
        run_wrk(c.url + path, body, connections, 2)
        return run_wrk(c.url + path, body, connections, seconds)


def combined(loads: list[Load]) -> Load:
    def median(values: list[float]) -> float:
        return float(np.median(values))

    return Load(
        requests=sum(x.requests for x in loads),
        seconds=sum(x.seconds for x in loads),
        p50_ms=median([x.p50_ms for x in loads]),
        p99_ms=median([x.p99_ms for x in loads]),
        non_2xx=sum(x.non_2xx for x in loads),
        socket_errors=sum(x.socket_errors for x in loads),
    )
