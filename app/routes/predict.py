"""POST /predict and POST /predict/batch, added to the app by `install`.

Built for speed (docs/performance.md): each route reads and validates its own
body and answers with JSON text; how to score is the Predictor's business.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_PREFIX, REF_TEMPLATE
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from app.deps import get_predictor
from app.errors import responses
from app.metrics import count_predictions
from app.schemas import BatchPrediction, BatchRequest, Patient, Prediction, rows, validate_json
from model.features import CLASS_LABELS, THRESHOLD
from model.serving import Predictor

TAGS: list[str | Enum] = ["predictions"]


def _predictions_json(predictor: Predictor, patients: list[Any]) -> list[str]:
    """Score the patients and return each answer as a JSON object, in order.

    The answers are written as JSON text directly: `Prediction` documents
    their shape (a test parses every kind of answer with it), but building
    and re-validating a model per answer would cost more than the
    prediction itself. `repr` of a float is valid JSON (the probability is
    always finite).
    """
    probabilities = predictor.probabilities(rows(patients))
    classes = [int(p >= THRESHOLD) for p in probabilities]
    n_presence = sum(classes)
    count_predictions(n_presence, len(classes) - n_presence)
    tails = _answer_tails(predictor.version)
    return [
        f'{{"probability":{p!r},{tails[c]}}}' for p, c in zip(probabilities, classes, strict=True)
    ]


@cache
def _answer_tails(version: str) -> tuple[str, str]:
    """What follows the probability in an answer of class 0 and of class 1."""
    quoted = json.dumps(version)
    return tuple(  # type: ignore[return-value]
        f'"class":{c},"label":"{CLASS_LABELS[c]}","model_version":{quoted}' for c in (0, 1)
    )


def _json(text: str) -> Response:
    return Response(content=text.encode(), media_type="application/json")


async def _body(request: Request, model: type[BaseModel]) -> Any:
    """The request body validated as `model`, or a RequestValidationError
    (answered 400 for bad JSON, 422 otherwise, by app.errors)."""
    body = await request.body()
    if not body:
        error = {"type": "missing", "loc": ("body",), "msg": "Field required"}
        raise RequestValidationError([error])
    try:
        return validate_json(model, body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def predict(request: Request) -> Response:
    predictor = await get_predictor(request)  # called, not declared: no dependency solving
    patient = await _body(request, Patient)
    return _json(_predictions_json(predictor, [patient])[0])


async def predict_batch(request: Request) -> Response:
    predictor = await get_predictor(request)
    batch = await _body(request, BatchRequest)
    max_batch = request.app.state.settings.max_batch
    if len(batch.patients) > max_batch:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "patients"),
                    "msg": f"A batch holds at most {max_batch} patients "
                    f"(MAX_BATCH), got {len(batch.patients)}",
                }
            ]
        )
    return _json('{"predictions":[' + ",".join(_predictions_json(predictor, batch.patients)) + "]}")


# path, endpoint, request model (validated by `_body`), response model, summary
ROUTES = (
    (
        "/predict",
        predict,
        Patient,
        Prediction,
        "Estimate one patient's probability of heart disease",
    ),
    (
        "/predict/batch",
        predict_batch,
        BatchRequest,
        BatchPrediction,
        "Estimate the probability of heart disease for several patients",
    ),
)
PATHS = frozenset(path for path, *_ in ROUTES)
"""The routes whose body must be JSON (app.middleware.JsonBodyGuard)."""


def install(app: FastAPI, dependencies: Sequence[Any]) -> None:
    """Add POST /predict and /predict/batch to `app` itself, with
    `dependencies` (app.main passes the API key check only when API_KEY is
    set, so that the OpenAPI document declares security exactly when it is
    enforced).

    On the app, not through `include_router`: FastAPI >= 0.137 resolves an
    included router on every request. The routes read and validate their
    own body (`_body`) rather than declare a `Patient` parameter:
    pydantic-core then parses the bytes directly, and FastAPI's own parsing
    and dependency solving are skipped (docs/performance.md). So the request
    bodies are declared in OpenAPI here.
    """
    errors = responses(400, 401, 413, 415, 422, 503)
    for path, endpoint, request_model, response_model, summary in ROUTES:
        body = {"$ref": f"{REF_PREFIX}{request_model.__name__}"}
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=response_model,
            responses=errors,
            summary=summary,
            tags=TAGS,
            dependencies=dependencies,
            openapi_extra={
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}
            },
        )
    app.openapi = _with_request_schemas(app)  # type: ignore[method-assign]


def _with_request_schemas(app: FastAPI) -> Any:
    """`app.openapi`, plus the request models' schemas the routes refer to
    (FastAPI adds to the components only the models of parameters it
    validates)."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            schema = FastAPI.openapi(app)
            _, definitions = models_json_schema(
                [(request_model, "validation") for _, _, request_model, _, _ in ROUTES],
                ref_template=REF_TEMPLATE,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                definitions["$defs"]
            )
        return app.openapi_schema  # type: ignore[return-value]

    return openapi
