"""Connection-level guards, in uvicorn's own HTTP protocol (httptools).

The ASGI app only sees a request once its headers have arrived, so what a
client does before that, or after the app has answered, is handled here:

- A deadline per request (`REQUEST_TIMEOUT`): a request whose headers and
  body have not all arrived in time gets 408 (our JSON error shape) and
  its connection is closed. It runs from the connection's first byte (or
  from the end of the previous request on a kept-alive connection, where
  uvicorn's own `KEEP_ALIVE_TIMEOUT` closes a connection that stays idle).
  A slow client therefore holds a connection for at most that long.
- A bounded lingering close: when the app has answered before the request
  body has all arrived (a 413), closing at once makes the kernel reset the
  connection while a client such as Python's `urllib`, which sends the whole
  body before reading, is still sending; it then sees "connection reset"
  instead of the 413. So the rest of the body is read and discarded, up to
  `LINGER_BYTES` and `LINGER_SECONDS`, then the connection is closed, as
  nginx's lingering close does.

- Whole bodies before the app: a request with a body enters the app (and
  counts against `MAX_CONCURRENCY`) only once its whole body has arrived,
  as nginx buffers request bodies before passing them upstream. Until then
  the protocol keeps the body itself (at most `MAX_BODY_BYTES`: a longer
  chunked body is handed on at the limit, for the app's 413; a declared
  longer one is handed on at once, likewise), so 2,000 connections that
  trickle their bodies hold no place in the app and get 408 at the deadline.
  The bodies held so far share one budget per worker (`BODY_BUDGET_BYTES`):
  a body that would pass it is answered 503 `overloaded` and its
  connection closed, so memory stays within the budget however many
  clients send large bodies slowly. A client that sent
  `Expect: 100-continue` is told to continue here.

- Load shedding at the door: while MAX_CONCURRENCY requests are in the
  app, or the explanation backlog is full (`app.guards.admission`), a new
  request is answered at once with 503 `overloaded` and `Retry-After`,
  written by this protocol without an ASGI task, so that a shed request
  costs the busy loop almost nothing. Routes whose policy says never shed
  (the probes, /metrics) never are; under /v2/ the answer takes V2's shape.

`python -m app` passes this class to uvicorn (`http=`); each worker reads
the settings itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app import policy
from app.config import get_settings
from app.errors import OVERLOADED, REQUEST_TIMEOUT, RETRY_AFTER, V2_PREFIX, Problem, error_body
from app.guards.admission import EXPLAIN_PATHS, EXPLANATIONS
from app.observability.metrics import CONNECTION_EVENTS

log = logging.getLogger("app")


def _raw_answer(status: bytes, problem: Problem, close: bool, v2: bool = False) -> bytes:
    """A whole HTTP/1.1 error answer in our JSON shape (or V2's), written by
    the protocol itself (no app, no ASGI task)."""
    document = {"error": problem.message} if v2 else error_body(problem)
    body = json.dumps(document).encode()
    headers = b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    if problem is OVERLOADED:
        headers += b"retry-after: %s\r\n" % RETRY_AFTER.encode()
    if close:
        headers += b"connection: close\r\n"
    return b"HTTP/1.1 %s\r\n%s\r\n%s" % (status, headers, body)


SHED_RESPONSES = {
    (v2, close): _raw_answer(b"503 Service Unavailable", OVERLOADED, close, v2)
    for v2 in (False, True)
    for close in (False, True)
}
"""The whole answer to a request shed at the door, by (under /v2/, closing),
written by the protocol itself: a few microseconds (docs/performance.md)."""
TIMEOUT_RESPONSE = _raw_answer(b"408 Request Timeout", REQUEST_TIMEOUT, close=True)


def _no_delay(transport: asyncio.Transport) -> None:
    """Send small answers at once (TCP_NODELAY). asyncio sets it only on
    sockets whose `proto` is IPPROTO_TCP, which the listening socket that
    uvicorn hands to each of several workers is not (proto 0): without it,
    WORKERS=2 answered 363 requests/s with a 44 ms median (Nagle's
    algorithm meeting delayed ACKs) instead of ~4,400 in 3 ms."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _LingeringTransport:
    """The connection's transport, whose `close` lingers when the answer went
    out before the request body had all arrived (uvicorn closes at once
    after a response when the request said `Connection: close`)."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self._transport, self._protocol = transport, protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        if not self._protocol.linger():
            self._transport.close()


class BodyBudget:
    """Bytes of request bodies held by this worker's connections, before the app."""

    held = 0


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    linger_bytes = 16 * 1024 * 1024
    linger_seconds = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()  # read in each worker
        self.request_timeout = settings.request_timeout
        self.max_concurrency = settings.max_concurrency
        self.max_body_bytes = settings.max_body_bytes
        self.body_budget = settings.body_budget_bytes
        self._body: list[bytes] | None = None  # the body being kept, or None
        self._body_bytes = 0
        self._stopping = False
        self._deadline: asyncio.TimerHandle | None = None
        self._discarded = 0
        self._lingering = False
        self._shedding = False
        self._refused = False
        self._real_transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._real_transport = transport
        _no_delay(transport)
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm(self.request_timeout, self._timed_out)

    def linger(self) -> bool:
        """Called instead of closing: start lingering (True) when the answer
        is out but the request body is still coming, else False."""
        cycle = self.cycle
        if self._lingering:
            return True
        if cycle is None or not cycle.response_complete or not cycle.more_body:
            return False
        self._lingering = True
        self._arm(self.linger_seconds, self._close)
        return True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._discarded = 0
        self._arm(self.request_timeout, self._timed_out)

    def on_headers_complete(self) -> None:
        if self._body_expected():
            self._body, self._body_bytes = [], 0  # kept until the whole body is here
            if self.expect_100_continue:
                self.expect_100_continue = False
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        if self._must_shed():
            self._shedding = True  # answered in on_message_complete, once the body is read
            return
        super().on_headers_complete()

    def _body_expected(self) -> bool:
        """Whether this request has a body of at most MAX_BODY_BYTES to keep
        (declared longer, or an upgrade, and it goes to the app at once)."""
        if self.parser.should_upgrade():
            return False
        for name, value in self.headers:
            if name == b"content-length":
                return value.isdigit() and 0 < int(value) <= self.max_body_bytes
            if name == b"transfer-encoding":
                return True
        return False

    def shutdown(self) -> None:
        """Graceful shutdown (SIGTERM): a request whose body is still arriving
        is served like one already in the app, then its connection closes
        (uvicorn waits for open connections; REQUEST_TIMEOUT bounds the wait)."""
        if self._body is None:
            super().shutdown()
        self._stopping = True

    def _drop_body(self) -> None:
        """Forget the body kept so far, and give its bytes back to the budget."""
        BodyBudget.held -= self._body_bytes
        self._body, self._body_bytes = None, 0

    def _hand_over(self) -> None:
        """The request enters the app with the body kept so far."""
        body = self._body
        self._drop_body()
        super().on_headers_complete()
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False
        if body:
            super().on_body(b"".join(body))

    def _must_shed(self) -> bool:
        """Whether to answer 503 at the door: as many requests as
        MAX_CONCURRENCY are in the app, or this is an explanation and their
        backlog is full (`app.guards.admission`); what is in flight now,
        nothing older. Never a route declared never shed, and never while
        an earlier request of this connection is being answered (a
        pipelined request's answer must follow that one's)."""
        busy = len(self.tasks) >= self.max_concurrency
        if not (busy or EXPLANATIONS.full(1)):
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False
        path = httptools.parse_url(self.url).path
        return path.decode() not in policy.current.never_shed and (busy or path in EXPLAIN_PATHS)

    def on_body(self, body: bytes) -> None:
        if self._shedding or self._refused:
            return
        if self._body is not None:
            if BodyBudget.held + len(body) > self.body_budget:  # memory for bodies is spent
                self._drop_body()
                self._refuse_body()
                return
            self._body.append(body)
            self._body_bytes += len(body)
            BodyBudget.held += len(body)
            if self._body_bytes > self.max_body_bytes:  # a chunked body too long: the app's 413
                self._hand_over()
            return
        if self.cycle is not None and self.cycle.response_complete:  # answered early: discard
            self._discarded += len(body)
            if self._discarded > self.linger_bytes:
                self._close()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if self._refused:
            return
        if self._body is not None:  # the whole body is here: the app may take it now
            if self._must_shed():
                self._drop_body()
                self._shed()
                return
            self._hand_over()
        if self._shedding:
            self._shed()
            return
        super().on_message_complete()
        if self._lingering:  # the whole body is read: the client has its answer
            self._close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # the body is still coming: read and discard it for a bounded time
            self._arm(self.linger_seconds, self._close)

    def _shed(self) -> None:
        """Answer 503 `overloaded` with Retry-After, written here at once."""
        self._shedding = False
        CONNECTION_EVENTS.labels("shed").inc()
        v2 = httptools.parse_url(self.url).path.startswith(V2_PREFIX.encode())
        if self.parser.should_keep_alive():
            self.transport.write(SHED_RESPONSES[v2, False])
            self.on_response_complete()  # uvicorn's own: counts it, arms the keep-alive timeout
        else:
            self.transport.write(SHED_RESPONSES[v2, True])
            self._close()

    def _refuse_body(self) -> None:
        """503 `overloaded` for a body past BODY_BUDGET_BYTES, then close (the
        rest of the body is not read)."""
        self._refused = True  # the rest of what this connection sent is not read
        CONNECTION_EVENTS.labels("body_budget").inc()
        log.warning("request body refused: BODY_BUDGET_BYTES (%d) are held", self.body_budget)
        v2 = httptools.parse_url(self.url).path.startswith(V2_PREFIX.encode())
        self.transport.write(SHED_RESPONSES[v2, True])
        self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._body is not None:
            self._drop_body()
        self._lingering = False
        super().connection_lost(exc)

    def _arm(self, seconds: float, action: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, action)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self) -> None:
        self._disarm()
        self._lingering = False
        if self._real_transport is not None and not self._real_transport.is_closing():
            self._real_transport.close()

    def _timed_out(self) -> None:
        """The request did not arrive in time: 408, then close."""
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self._close()  # the app is answering already: nothing more to say
            return
        CONNECTION_EVENTS.labels("request_timeout").inc()
        log.info("request not received within REQUEST_TIMEOUT (%g s): 408", self.request_timeout)
        self.transport.write(TIMEOUT_RESPONSE)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app, waiting for the body, sees a disconnect
            cycle.message_event.set()
        self._close()
