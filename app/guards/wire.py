"""What the connection guards write to the socket themselves: whole error
answers (no app, no ASGI task: a few microseconds, docs/performance.md) and
TCP_NODELAY."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

from app.errors import (
    BODIES_FULL,
    EXPLANATIONS_FULL,
    OVERLOADED,
    REQUEST_TIMEOUT,
    RETRY_AFTER,
    Problem,
    error_body,
)


def _raw_answer(status: bytes, problem: Problem, close: bool, v2: bool = False) -> bytes:
    """A whole HTTP/1.1 error answer in our JSON shape (or V2's), written by
    the protocol itself (no app, no ASGI task)."""
    document = {"error": problem.message} if v2 else error_body(problem)
    body = json.dumps(document).encode()
    headers = b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    if problem.status == 503:
        headers += b"retry-after: %s\r\n" % RETRY_AFTER.encode()
    if close:
        headers += b"connection: close\r\n"
    return b"HTTP/1.1 %s\r\n%s\r\n%s" % (status, headers, body)


SHED_RESPONSES = {
    (v2, close, explaining): _raw_answer(
        b"503 Service Unavailable", EXPLANATIONS_FULL if explaining else OVERLOADED, close, v2
    )
    for v2 in (False, True)
    for close in (False, True)
    for explaining in (False, True)
}
"""The whole answer to a request shed at the door, by (under /v2/, closing,
shed for the explanations' backlog rather than MAX_CONCURRENCY), written by
the protocol itself: a few microseconds (docs/performance.md)."""
BUDGET_RESPONSES = {
    v2: _raw_answer(b"503 Service Unavailable", BODIES_FULL, True, v2) for v2 in (False, True)
}
"""The answer to a body past BODY_BUDGET_BYTES, by under /v2/ (then a close)."""
TIMEOUT_RESPONSE = _raw_answer(b"408 Request Timeout", REQUEST_TIMEOUT, close=True)


def no_delay(transport: asyncio.Transport) -> None:
    """Send small answers at once (TCP_NODELAY). asyncio sets it only on
    sockets whose `proto` is IPPROTO_TCP, which the listening socket that
    uvicorn hands to each of several workers is not (proto 0); without it
    each answer waited for the client's delayed ACK (docs/performance.md)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
