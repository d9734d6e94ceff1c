"""Pure ASGI middleware: request ids, request logs and metrics, body size limit."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import NOT_JSON, error_response
from app.request_records import request_records

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContext:
    """Takes X-Request-ID from the request (or makes one), echoes it in the
    response, then records the request (`app.request_records`: its log line
    and Prometheus samples, in batches). Logs name the route template, never
    the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500
        start = time.perf_counter()

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
            request_records.add(scope["method"], route, status, elapsed, request_id, version)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # 128 random bits, as hex: an id for correlating log lines, not a secret,
    # so the process's Mersenne Twister (seeded from os.urandom, and again in
    # each forked worker) is enough, at half the cost of `secrets.token_hex`.
    return f"{random.getrandbits(128):032x}"


class JsonBodyGuard:
    """Checks the body of a POST to the JSON routes before anything reads it:
    415 unless it is declared as JSON; 413 for a body over `max_bytes`, at
    once when Content-Length says so (nothing is read), or as soon as a
    streamed body passes the limit.

    A middleware rather than a FastAPI dependency: a dependency costs about
    20 us a request, a tenth of the whole answer (see docs/performance.md).
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
            response = error_response(415, NOT_JSON)
            await response(scope, receive, send)
            return
        if declared is not None:
            if not declared.isdigit():
                await error_response(400, "Content-Length is not a number.")(scope, receive, send)
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
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes (MAX_BODY_BYTES)."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, self._message(), headers={"connection": "close"})
        await response(scope, receive, send)


def _is_json(content_type: bytes | None) -> bool:
    media_type = (content_type or b"").split(b";")[0].strip().lower()
    return media_type == b"application/json" or media_type.endswith(b"+json")
