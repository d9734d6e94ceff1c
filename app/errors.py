"""One JSON error shape for every error answer, and the handlers that make it.

    {"error": {"code": "validation_error", "message": "...",
               "details": [{"field": "thal", "message": "...", "type": "code"}]}}

The submitted values are never echoed back or logged: only where the
problem is and what was expected.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.schemas import ErrorResponse, explain

log = logging.getLogger("app")

STATUS_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "not_ready",
}


# Messages raised in more than one place (and shown in the OpenAPI examples).
INVALID_JSON = "The request body is not valid JSON."
UNAUTHORIZED = "Missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
NOT_JSON = "Send the body as JSON with the header 'Content-Type: application/json'."
NOT_LOADED = "The model is not loaded."


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": STATUS_CODES.get(status, "error"),
            "message": message,
            "details": details or [],
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or None


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return error_response(400, INVALID_JSON)
    details = []
    for e in errors:
        loc = tuple(e["loc"])
        kind, message = explain(str(loc[-1]) if loc else "", e["type"], _message(e))
        details.append({"field": _field(loc), "message": message, "type": kind})
    return error_response(422, "The request body is invalid.", details)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "missing" and error["loc"] == ("body",):
        return "A JSON object body is required."
    return str(error["msg"])


async def http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers=headers)


async def unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(500, "Internal server error.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_handler)
    app.add_exception_handler(Exception, unhandled_handler)


_DOCUMENTED: dict[int, tuple[str, str, list[dict[str, Any]]]] = {
    400: ("The body is not valid JSON.", INVALID_JSON, []),
    401: ("Missing or wrong API key (only when API_KEY is set).", UNAUTHORIZED, []),
    413: (
        "The body is larger than MAX_BODY_BYTES.",
        "The request body is larger than 1048576 bytes (MAX_BODY_BYTES).",
        [],
    ),
    415: ("The body is not declared as application/json.", NOT_JSON, []),
    422: (
        "A field is missing, unknown, of the wrong type or out of range.",
        "The request body is invalid.",
        [
            {
                "field": "thal",
                "message": "Input should be one of 3 (normal), 6 (fixed defect), "
                "7 (reversible defect)",
                "type": "code",
            }
        ],
    ),
    503: ("The model is not loaded or failed its self-test.", NOT_LOADED, []),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declaration of the error answers a route can give, each with
    an example of its body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, message, details = _DOCUMENTED[status]
        example = {"error": {"code": STATUS_CODES[status], "message": message, "details": details}}
        out[status] = {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    return out
