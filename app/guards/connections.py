"""Connection-level guards, in uvicorn's own HTTP protocol (httptools): what
a client does before the app sees its request, or after it answered.

- A deadline per request (REQUEST_TIMEOUT) from its first byte: 408, close.
- A bounded lingering close after an early answer (a 413).
- Whole bodies before the app, within one budget per worker
  (BODY_BUDGET_BYTES; past it: 503, close); `Expect: 100-continue`.
- Shedding at the door, on what is in flight only (`_must_shed`).

docs/operations.md says more. `python -m app` passes this class to uvicorn."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app import policy
from app.config import get_settings
from app.errors import V2_PREFIX
from app.guards.admission import EXPLAIN_PATHS, EXPLANATIONS
from app.guards.middleware import without_trailing_slash
from app.guards.wire import BUDGET_RESPONSES, SHED_RESPONSES, TIMEOUT_RESPONSE, no_delay
from app.observability.metrics import CONNECTION_EVENTS

log = logging.getLogger("app")


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
        self._explaining = False  # shed for the explanations' backlog, not MAX_CONCURRENCY
        self._real_transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._real_transport = transport
        no_delay(transport)
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
        path = self._path()
        self._explaining = not busy  # why, for the answer's message
        return path not in policy.current.never_shed and (busy or path.encode() in EXPLAIN_PATHS)

    def _path(self) -> str:
        """The request's path, as the app's routes see it (`without_trailing_slash`)."""
        return without_trailing_slash(httptools.parse_url(self.url).path.decode())

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
        v2 = self._path().startswith(V2_PREFIX)
        if self.parser.should_keep_alive():
            self.transport.write(SHED_RESPONSES[v2, False, self._explaining])
            self.on_response_complete()  # uvicorn's own: counts it, arms the keep-alive timeout
        else:
            self.transport.write(SHED_RESPONSES[v2, True, self._explaining])
            self._close()

    def _refuse_body(self) -> None:
        """503 `overloaded` for a body past BODY_BUDGET_BYTES, then close (the
        rest of the body is not read)."""
        self._refused = True  # the rest of what this connection sent is not read
        CONNECTION_EVENTS.labels("body_budget").inc()
        log.warning("request body refused: BODY_BUDGET_BYTES (%d) are held", self.body_budget)
        v2 = self._path().startswith(V2_PREFIX)
        self.transport.write(BUDGET_RESPONSES[v2])
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
