"""What the scoring routes (/predict, /explain and their batches) share:
reading and validating their own body, the batch-size check, answering it
and handing its row to the record (`answered`), heavy scoring off the event
loop (`scored`, also for V2 and FHIR), and adding them to the app with
their OpenAPI declarations.

Built for speed (docs/performance.md): each route reads and validates its
own body with pydantic-core, not through FastAPI's parameter machinery, and
is added to the app itself, not through an included router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, NamedTuple, TypeVar

import anyio
import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX, REF_TEMPLATE
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from app.api.answers import alone
from app.api.recording import record_answers
from app.api.schemas import BatchRequest, Patient, rows, validate_json
from app.deps import get_predictor
from app.errors import responses
from app.guards.body_limits import MAX_REPORTED, TooManyProblemsError, too_long
from model.serving import Predictor, Rows, has_missing

T = TypeVar("T")

HEAVY_ROWS = 500
"""Complete patients above which a batch is scored off the event loop. Below,
scoring takes a few milliseconds at most, and a thread would cost batches
of 100 a quarter of their throughput (docs/performance.md)."""
HEAVY_THREADS = 2
"""Heavy scorings at once per worker; more wait for a thread (each request
still counts against MAX_CONCURRENCY while it waits)."""


def is_heavy(rows: Rows) -> bool:
    """Whether scoring `rows` belongs off the event loop."""
    if len(rows) > HEAVY_ROWS:
        return True
    if isinstance(rows, np.ndarray):
        return bool(np.isnan(rows).any())
    return any(has_missing(row) for row in rows)


async def scored(state: Any, rows: Rows, work: Callable[[], T]) -> T:
    """`work()`, which scores `rows`: when they are heavy (`is_heavy`), in
    one of HEAVY_THREADS threads of this app (`state` is `app.state`) while
    the event loop serves other requests; else at once, here."""
    if not is_heavy(rows):
        return work()
    limiter = thread_limiter(state, "heavy_limiter", HEAVY_THREADS)
    return await anyio.to_thread.run_sync(work, limiter=limiter)


def thread_limiter(state: Any, name: str, threads: int) -> anyio.CapacityLimiter:
    """`state.<name>`, a limiter of `threads` worker threads for this app,
    made on first use (inside the running event loop)."""
    limiter = getattr(state, name, None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(threads)
        setattr(state, name, limiter)
    return limiter


Answer = Callable[[Request, Predictor, list[Any]], Awaitable[str]]
"""How a route answers its patients' rows (FEATURE_NAMES order): a JSON array
of their answers, in order."""


async def answered(
    request: Request,
    model: type[Patient | BatchRequest],
    answer: Answer,
    most: int | None = None,
    setting: str = "",
) -> tuple[str, Coroutine[Any, Any, str | None]]:
    """The patients of the request's body (validated as `model`) answered
    by `answer` (a JSON array), and their row still to make durable
    (`record_answers`).
    The patients are freed when this returns, so that while the route waits
    for the record it holds only the row and the answers (what that buys:
    docs/performance.md)."""
    predictor = await get_predictor(request)  # called, not declared: no dependency solving
    body = await read_body(request, model, most, setting)
    inputs = rows([body] if isinstance(body, Patient) else body.patients)
    array = await answer(request, predictor, inputs)
    outputs = alone(array) if len(inputs) == 1 else array  # as Row.outputs holds them
    return array, record_answers(request, predictor, inputs, outputs, await request.body())


class ScoringRoute(NamedTuple):
    path: str
    endpoint: Callable[[Request], Awaitable[Response]]
    request_model: type[BaseModel]  # validated by `read_body`
    response_model: Any  # what the route answers (a model or a TypedDict)
    summary: str
    tag: str


def json_response(text: str) -> Response:
    return Response(content=text.encode(), media_type="application/json")


async def read_body(
    request: Request, model: type[BaseModel], max_items: int | None = None, setting: str = ""
) -> Any:
    """The request body validated as `model`, or a RequestValidationError
    (answered 400 for bad JSON, 422 otherwise, by app.errors); a batch of
    more than `max_items` patients is refused (naming `setting`)."""
    body = await request.body()
    if not body:
        error = {"type": "missing", "loc": ("body",), "msg": "Field required"}
        raise RequestValidationError([error])
    try:
        parsed = validate_json(model, body, max_items)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise _invalid(errors, exc.error_count()) from None
    except TooManyProblemsError as exc:
        named = [{**e, "msg": e["msg"].replace("MAX_BATCH", setting)} for e in exc.errors]
        raise _invalid(named, exc.total, exc.exact) from None
    if max_items is not None and len(parsed.patients) > max_items:
        raise _invalid([too_long(max_items, len(parsed.patients), setting)], 1)
    return parsed


def _invalid(errors: Sequence[Any], total: int, exact: bool = True) -> RequestValidationError:
    """The first MAX_REPORTED problems, and a last detail counting the rest."""
    listed = [{**e, "loc": ("body", *e["loc"])} for e in errors[:MAX_REPORTED]]
    if total > len(listed):
        more = total - len(listed)
        about = "" if exact else "about "
        message = (
            f"{about}{more} more problem{'s' * (more > 1)} not listed (the first {len(listed)} are)"
        )
        listed.append({"type": "too_many_errors", "loc": ("body",), "msg": message})
    return RequestValidationError(listed)


def install(app: FastAPI, routes: Sequence[ScoringRoute]) -> None:
    """Add the scoring routes to `app` itself (their callers are checked by
    their policy, `app.policy`).

    On the app, not through `include_router`: FastAPI >= 0.137 resolves an
    included router on every request. Since the routes validate their own
    body, the request bodies are declared in OpenAPI here.
    """
    errors = responses(400, 401, 413, 415, 422, 503)
    for route in routes:
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=["POST"],
            response_model=route.response_model,
            responses=errors,
            summary=route.summary,
            tags=[route.tag],
            openapi_extra=request_body(route.request_model),
        )
    declare_request_models(app, [r.request_model for r in routes])


def declare_request_models(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add `models` to the OpenAPI components, for routes that validate their
    own body and refer to its schema as `#/components/schemas/<Model>`."""
    declared: set[type[BaseModel]] | None = getattr(app.state, "request_models", None)
    if declared is None:
        declared = app.state.request_models = set()
    declared.update(models)
    app.openapi = _with_request_schemas(app, declared)  # type: ignore[method-assign]


def request_body(model: type[BaseModel], media_type: str = "application/json") -> dict[str, Any]:
    """The `openapi_extra` declaring a route's required body as `model`."""
    schema = {"$ref": f"{REF_PREFIX}{model.__name__}"}
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def _with_request_schemas(app: FastAPI, models: set[type[BaseModel]]) -> Any:
    """`app.openapi`, plus the request models' schemas the routes refer to
    (FastAPI adds to the components only the models of parameters it
    validates)."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            schema = FastAPI.openapi(app)
            _, definitions = models_json_schema(
                [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                ref_template=REF_TEMPLATE,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                definitions["$defs"]
            )
        return app.openapi_schema  # type: ignore[return-value]

    return openapi
