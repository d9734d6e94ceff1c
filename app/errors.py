"""One JSON error shape for every error answer: the `Problem`s, the body,
and its OpenAPI models (`app.api.handlers` turns exceptions into it).

    {"error": {"code": "validation_error", "message": "...",
               "details": [{"field": "thal", "message": "...", "type": "code"}]}}

The submitted values are never echoed back or logged: only where the
problem is and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


@dataclass(frozen=True)
class Problem:
    """One kind of error answer: its status, its machine-readable code, and
    the message a person reads. Every error the service gives is one of
    these, so a code never depends on a status alone."""

    status: int
    code: str
    message: str


INVALID_JSON = Problem(400, "invalid_json", "The request body is not valid JSON.")
BAD_CONTENT_LENGTH = Problem(400, "invalid_content_length", "Content-Length is not a number.")
UNAUTHORIZED = Problem(
    401,
    "unauthorized",
    "Missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
)
FORBIDDEN = Problem(403, "forbidden", "This key lacks the scope this route needs.")
NOT_FOUND = Problem(404, "not_found", "Not Found")
AMBIGUOUS = Problem(409, "ambiguous", "The reference names several records.")
REQUEST_TIMEOUT = Problem(
    408,
    "request_timeout",
    "The request did not arrive within REQUEST_TIMEOUT; the connection is closed.",
)
METHOD_NOT_ALLOWED = Problem(405, "method_not_allowed", "Method Not Allowed")
TOO_LARGE = Problem(
    413, "payload_too_large", "The request body is larger than {max_bytes} bytes (MAX_BODY_BYTES)."
)
NOT_JSON = Problem(
    415,
    "unsupported_media_type",
    "Send the body as JSON with the header 'Content-Type: application/json'.",
)
INVALID_BODY = Problem(422, "validation_error", "The request body is invalid.")
INVALID_CDS_REQUEST = Problem(400, "invalid_cds_request", "The CDS Hooks request is invalid.")
CDS_UNAUTHORIZED = Problem(
    401,
    "cds_unauthorized",
    "The CDS Hooks call needs a valid signed JWT from a listed client: "
    "'Authorization: Bearer <JWT>'.",
)
PREFETCH_UNAVAILABLE = Problem(
    412,
    "prefetch_unavailable",
    "Prefetch keys are missing and the FHIR server cannot supply them.",
)
PAGE_UNAUTHORIZED = Problem(
    401,
    "page_unauthorized",
    "Open the risk page from the EHR (a SMART launch): with API keys or SMART clients set, "
    "the page answers only a launched session.",
)
PAGE_EXPIRED = Problem(
    401, "page_session_expired", "This page's session has ended: open it again from the EHR."
)
CROSS_ORIGIN = Problem(
    403, "cross_origin", "The risk page's answers are for the page itself, not another site."
)
LAUNCH_REFUSED = Problem(400, "launch_refused", "This SMART launch cannot go on.")
EHR_UNAVAILABLE = Problem(
    502, "ehr_unavailable", "The EHR did not answer as SMART on FHIR requires; retry from the EHR."
)
CLIENT_CLOSED = Problem(499, "client_closed_request", "The client closed the request.")
INTERNAL = Problem(500, "internal_error", "Internal server error.")
NOT_LOADED = Problem(503, "not_ready", "The model is not loaded.")
RECORD_UNAVAILABLE = Problem(
    503,
    "record_unavailable",
    "The answer could not be recorded, so it is not given; retry shortly.",
)
MONITORING_PENDING = Problem(
    503,
    "monitoring_pending",
    "No monitoring report yet: the first comes within MONITOR_INTERVAL seconds of the start "
    "(never with AUDIT=off).",
)
OVERLOADED = Problem(
    503,
    "overloaded",
    "The server is answering as many requests as it can (MAX_CONCURRENCY); retry shortly.",
)
EXPLANATIONS_FULL = Problem(
    503,
    "overloaded",
    "This worker is explaining as many patients as it can (EXPLAIN_THREADS, EXPLAIN_BACKLOG); "
    "retry shortly.",
)
"""The same code as OVERLOADED, for the other cause: the explanations' backlog."""
BODIES_FULL = Problem(
    503,
    "overloaded",
    "The server holds as many request bodies as it can (BODY_BUDGET_BYTES); retry shortly.",
)


class ApiError(StarletteHTTPException):
    """Raise to answer with `problem` (its message, or `message`)."""

    def __init__(
        self,
        problem: Problem,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(problem.status, message or problem.message, headers)
        self.problem = problem
        self.details = details


RETRY_AFTER = "1"
"""Seconds an `overloaded` answer asks the client to wait (Retry-After)."""


def error_body(
    problem: Problem, message: str | None = None, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON document of every error answer."""
    return {
        "error": {
            "code": problem.code,
            "message": message or problem.message,
            "details": details or [],
        }
    }


V2_PREFIX = "/v2/"
"""The Open Inference Protocol's routes, whose errors take its own shape."""


def error_response(
    problem: Problem,
    message: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    """The error answer to a request for `path`: the one shape above, or
    under /v2/ the Open Inference Protocol's `{"error": "<message>"}`, which
    its clients (tritonclient, KServe's) read as a string."""
    if path.startswith(V2_PREFIX):
        body: dict[str, Any] = {"error": (message or problem.message)}
    else:
        body = error_body(problem, message, details)
    return JSONResponse(body, status_code=problem.status, headers=headers)


class ErrorDetail(BaseModel):
    field: str | None = Field(
        description=(
            "Where the problem is, e.g. 'thal' or 'patients.3.age'; null for the whole body."
        ),
        examples=["thal"],
    )
    message: str = Field(
        examples=["Input should be one of 3 (normal), 6 (fixed defect), 7 (reversible defect)"]
    )
    type: str = Field(description="Machine-readable kind of problem.", examples=["code"])


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code.", examples=["validation_error"])
    message: str = Field(
        description="What went wrong, for a person.", examples=["The request body is invalid."]
    )
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorBody


_DOCUMENTED: dict[int, tuple[str, Problem, list[dict[str, Any]]]] = {
    400: ("The body is not valid JSON.", INVALID_JSON, []),
    401: ("Missing or wrong API key (only when API_KEY is set).", UNAUTHORIZED, []),
    403: ("The key lacks the scope the route needs.", FORBIDDEN, []),
    413: ("The body is larger than MAX_BODY_BYTES.", TOO_LARGE, []),
    415: ("The body is not declared as application/json.", NOT_JSON, []),
    422: (
        "A field is missing, unknown, of the wrong type or out of range.",
        INVALID_BODY,
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
        description, problem, details = _DOCUMENTED[status]
        message = problem.message.format(max_bytes=1048576)
        example = {"error": {"code": problem.code, "message": message, "details": details}}
        out[status] = {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    return out
