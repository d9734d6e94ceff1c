"""Pure ASGI middleware: one path with or without its trailing slash,
request ids and telemetry, the body guard, the one-line start-up failure."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import (
    BAD_CONTENT_LENGTH,
    NOT_JSON,
    OVERLOADED,
    RETRY_AFTER,
    TOO_LARGE,
    ApiError,
    error_response,
)
from app.observability.telemetry import Telemetry

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def without_trailing_slash(path: str) -> str:
    """`/predict/` is `/predict` (and `/` stays `/`): the path every guard matches."""
    return path.rstrip("/") or "/"


class TrailingSlash:
    """`/predict/` is `/predict`: a path's trailing slash is dropped before
    anything looks at the path, so every route answers with or without it,
    under its own policy and in the one error shape (FastAPI would answer a
    bare 307 first, before any key check)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": without_trailing_slash(path)}
            if scope.get("raw_path"):
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


class RequestContext:
    """Takes X-Request-ID from the request (or makes one), echoes it in the
    response, then notes the request in `telemetry` (its log line and
    Prometheus samples). Logs name the route template, never the body."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.observe = telemetry.observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = time.time()
        request_id = _request_id(scope, now)
        status = 500
        start = time.perf_counter()
        # For the routes' own use (the record): who asked, and when it came.
        state = scope.setdefault("state", {})
        state["request_id"], state["received_at"] = request_id, now

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            app_state: Any = getattr(scope.get("app"), "state", None)
            version = getattr(getattr(app_state, "predictor", None), "version", None)
            key_name = state.get("api_key_name")  # set by app.policy.check_key
            issuer = state.get("cds_issuer")  # set by app.clinical.cds_routes.authorized
            self.observe(
                scope["method"], route, status, elapsed, request_id, version, key_name, issuer
            )


def _request_id(scope: Scope, now: float) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # 32 hex digits: the milliseconds since the epoch (48 bits), then 80
    # random bits. Not a secret, so the process's Mersenne Twister (seeded
    # from os.urandom, and again in each forked worker) is enough. Ids in
    # time order append to the record's request_id index rather than touch
    # a page anywhere in it (docs/performance.md).
    return f"{(int(now * 1000) << 80) | random.getrandbits(80):032x}"


class InFlight:
    """How many requests are inside the app now (this worker), the routes
    never shed aside: `ConcurrencyLimit` counts them; the record's group
    commit reads them (`app.record.recorder`)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class ConcurrencyLimit:
    """Answers 503 with Retry-After at once, rather than queueing without
    bound, while `limit` requests are already inside the app (this worker,
    counted in `in_flight`). The routes in `exempt` (whose policy says they
    are never shed: probes and scrapes) are never refused, so that an
    overloaded worker is seen alive.
    """

    def __init__(
        self, app: ASGIApp, limit: int, exempt: frozenset[str], in_flight: InFlight
    ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        in_flight = self.in_flight
        if in_flight.count >= self.limit:
            headers = {"retry-after": RETRY_AFTER}
            await error_response(OVERLOADED, headers=headers, path=scope["path"])(
                scope, receive, send
            )
            return
        in_flight.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            in_flight.count -= 1


class JsonBodyGuard:
    """Checks the body of a POST to the JSON routes before anything reads it:
    415 unless it is declared as JSON; 413 for a body over `max_bytes`, at
    once when Content-Length says so (nothing is read), or as soon as a
    streamed body passes the limit.

    A middleware rather than a FastAPI dependency: a dependency costs a
    noticeable part of a whole answer (docs/performance.md).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, json_paths: frozenset[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_paths = json_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type = declared = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        if scope["path"] in self.json_paths and not _is_json(content_type):
            await error_response(NOT_JSON, path=scope["path"])(scope, receive, send)
            return
        if declared is not None:
            if not declared.isdigit():
                await error_response(BAD_CONTENT_LENGTH, path=scope["path"])(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the
                    # body straight to the error handlers: a 413 answer.
                    raise ApiError(TOO_LARGE, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return TOO_LARGE.message.format(max_bytes=self.max_bytes)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No "connection: close": the server reads and discards the rest of
        # the body for a bounded time (app.guards.connections), so that a client
        # still sending it can read this answer.
        response = error_response(TOO_LARGE, self._message(), path=scope["path"])
        await response(scope, receive, send)


def _is_json(content_type: bytes | None) -> bool:
    media_type = (content_type or b"").split(b";")[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")


class OneLineStartupFailure:
    """Replaces the traceback that Starlette reports for a failed startup
    with the artifact error's one line, so an operator reads exactly what is
    wrong and how to fix it (uvicorn then exits non-zero). The lifespan puts
    that line in `app.state.startup_error`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            state = getattr(scope.get("app"), "state", None)
            error = getattr(state, "startup_error", None)
            if message["type"] == "lifespan.startup.failed" and error:
                message = {**message, "message": f"cannot start: {error}"}
            await send(message)

        await self.app(scope, receive, send_one_line)
