"""The exception handlers that give every error answer the one shape of
`app.errors`: validation errors naming the field, framework errors, a client
that went away, and anything unhandled (never a traceback in the answer).

The submitted values are never echoed back or logged: only where the
problem is and what was expected.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.api.recording import record_refusal
from app.api.schemas import describe_error
from app.errors import (
    CLIENT_CLOSED,
    INTERNAL,
    INVALID_BODY,
    INVALID_JSON,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    Problem,
    error_response,
)
from app.page import render

log = logging.getLogger("app")

_FRAMEWORK = {p.status: p for p in (NOT_FOUND, METHOD_NOT_ALLOWED)}
"""Errors that Starlette raises itself (unknown route or method)."""


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or None


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        await record_refusal(request, INVALID_JSON.status, INVALID_JSON.code)
        return error_response(INVALID_JSON, path=request.url.path)
    details = []
    for e in errors:
        loc = tuple(e["loc"])
        kind, message = describe_error(str(loc[-1]) if loc else "", e["type"], _message(e))
        details.append({"field": _field(loc), "message": message, "type": kind})
    await record_refusal(request, INVALID_BODY.status, INVALID_BODY.code)
    return error_response(INVALID_BODY, details=details, path=request.url.path)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "missing" and error["loc"] == ("body",):
        return "A JSON object body is required."
    return str(error["msg"])


async def http_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    problem = getattr(exc, "problem", None) or _FRAMEWORK.get(exc.status_code)
    if problem is None:  # a status Starlette raised that has no Problem of ours
        problem = Problem(exc.status_code, "http_error", str(exc.detail))
    details = getattr(exc, "details", None)
    await record_refusal(request, problem.status, problem.code)
    if render.is_page(request):  # a browser on the risk page: a page saying what to do
        page = render.error_page(problem.status, str(exc.detail))
        return render.html(request, page, problem.status, headers)
    return error_response(problem, str(exc.detail), details, headers, request.url.path)


async def disconnect_handler(request: Request, exc: Exception) -> Response:
    """A client that went away before its body arrived: not a server error.
    Recorded as 499 (nginx's "client closed request"; nobody reads the
    answer), logged as one info line without a traceback."""
    log.info(
        "client closed the request before its body arrived: %s %s", request.method, request.url.path
    )
    return Response(status_code=CLIENT_CLOSED.status)


async def unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    await record_refusal(request, INTERNAL.status, INTERNAL.code)
    return error_response(INTERNAL, path=request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_handler)
    app.add_exception_handler(ClientDisconnect, disconnect_handler)
    app.add_exception_handler(Exception, unhandled_handler)
