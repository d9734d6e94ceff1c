"""The Open Inference Protocol (V2, REST) beside the service's own routes,
so that Triton's and KServe's clients work unchanged: server and model
metadata, health, readiness, and `infer`, with Triton's binary tensor data
extension (`app/v2/tensors.py`).

`infer` takes either one tensor `patients` of shape [n, 13] (columns in
FEATURE_NAMES order) or 13 tensors named after the fields, each [n] or
[n, 1]; every row is validated as /predict validates a patient, and scored
by the same `Predictor.assess`. Outputs: `probability` (FP64), `class`
(INT64), `interval_low` and `interval_high` (FP64), each [n].
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from functools import partial
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from app.api.recording import one_or_array, record_answers, record_refusal
from app.api.scoring import scored
from app.errors import ApiError, responses
from app.policy import OPERATIONS, PUBLIC, Caller, Policy, declare
from app.v2.openapi import (
    INFER_BODY,
    OUTPUTS,
    path_parameters,
    v2_errors,
    with_served_names,
)
from app.v2.patient_matrix import RowError, validated_matrix
from app.v2.tensors import (
    OUTPUT_KEYS,
    TensorError,
    encode_response,
    flag,
    input_arrays,
    parameters,
    parse_request,
    refuse_unknown_keys,
)
from model.features import FEATURE_NAMES, THRESHOLD

TAG = "open inference protocol (v2)"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _model(request: Request) -> tuple[Any, JSONResponse | None]:
    """The predictor serving the model (and version) the path names, or a
    404/503 answer.

    The endpoints read their path parameters from `request.path_params`
    rather than declaring them, which skips FastAPI's per-request parameter
    handling (its cost: docs/performance.md); OpenAPI gets
    them from `path_parameters` instead.
    """
    settings, state = request.app.state.settings, request.app.state
    name, model_version = (
        request.path_params["model_name"],
        request.path_params.get("model_version"),
    )
    predictor = getattr(state, "predictor", None)
    if name != settings.model_name:
        return None, _error(
            404, f"unknown model '{name}' (this server serves '{settings.model_name}')"
        )
    if predictor is None:
        return None, _error(503, f"model '{name}' is not ready: {state.readiness_problem}")
    if model_version is not None and model_version != predictor.version:
        return None, _error(
            404,
            f"unknown version '{model_version}' of model '{name}' (serving '{predictor.version}')",
        )
    return predictor, None


@declare(PUBLIC)
async def _metadata(request: Request) -> Response:
    predictor, problem = _model(request)
    if problem is not None:
        return problem
    return JSONResponse(
        {
            "name": request.path_params["model_name"],
            "versions": [predictor.version],
            "platform": "numpy",
            "inputs": [
                {"name": "patients", "datatype": "FP64", "shape": [-1, len(FEATURE_NAMES)]},
                *({"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURE_NAMES),
            ],
            "outputs": [{"name": k, "datatype": v, "shape": [-1]} for k, v in OUTPUTS.items()],
        }
    )


@declare(PUBLIC)
async def _ready(request: Request) -> Response:
    _, problem = _model(request)
    if problem is not None:
        return problem
    return JSONResponse({"name": request.path_params["model_name"], "ready": True})


def _patient_rows(arrays: dict[str, np.ndarray], most: int) -> np.ndarray:
    """Validated rows, or TensorError naming the row and the field."""
    if set(arrays) == {"patients"}:
        matrix = arrays["patients"]
        if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_NAMES):
            raise TensorError(f"input 'patients' must have shape [n, {len(FEATURE_NAMES)}]")
    elif set(arrays) == set(FEATURE_NAMES):
        columns = []
        for f in FEATURE_NAMES:
            a = arrays[f]
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 1:
                raise TensorError(f"input '{f}' must have shape [n] or [n, 1]")
            columns.append(a)
        if len({len(c) for c in columns}) != 1:
            raise TensorError("the 13 inputs must hold the same number of rows")
        matrix = np.stack(columns, axis=1)
    else:
        raise TensorError(
            "inputs must be one tensor 'patients' [n, 13] or the 13 fields "
            f"({', '.join(FEATURE_NAMES)}), each [n] or [n, 1]"
        )
    if not 1 <= len(matrix) <= most:
        raise TensorError(f"a request holds 1 to {most} patients (MAX_BATCH), got {len(matrix)}")
    if not np.all(np.isfinite(matrix)):
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise TensorError(f"row {row}: values must be finite numbers")
    try:
        return validated_matrix(matrix)
    except RowError as exc:
        raise TensorError(str(exc)) from None


@declare(Policy(Caller.SCORE, recorded=True, heavy=True))
async def infer(request: Request) -> Response:
    predictor, problem = _model(request)
    if problem is not None:
        return problem
    inferred = await _inferred(request, predictor)
    if isinstance(inferred, Response):  # the request was refused
        return inferred
    response, recorded = inferred
    try:
        if recorded is not None:
            await recorded  # the patients are freed by now: only the row is kept alive
    except ApiError as exc:  # the record could not be written: no answer
        return _error(exc.status_code, str(exc.detail))
    return response


async def _inferred(
    request: Request, predictor: Any
) -> Response | tuple[Response, Coroutine[Any, Any, str | None] | None]:
    """The answer to an infer request, and its row still to make durable;
    or the refusal of a request that is not valid."""
    body = await request.body()
    try:
        payload, binary = parse_request(
            body, request.headers.get("inference-header-content-length")
        )
        patient_rows = _patient_rows(
            input_arrays(payload, binary), request.app.state.settings.max_batch
        )
        wanted, binary_names = _requested(payload)
    except TensorError as exc:
        await record_refusal(request, 400, "invalid_tensors")
        return _error(400, str(exc))
    answers = await scored(request.app.state, patient_rows, partial(predictor.assess, patient_rows))
    p = np.array([a.probability for a in answers])
    values = {
        "probability": p,
        "class": (p >= THRESHOLD).astype(np.int64),
        "interval_low": np.array([a.low for a in answers]),
        "interval_high": np.array([a.high for a in answers]),
    }
    response: dict[str, Any] = {
        "model_name": request.path_params["model_name"],
        "model_version": predictor.version,
    }
    if "id" in payload:
        response["id"] = payload["id"]
    outputs = [(name, OUTPUTS[name], values[name]) for name in wanted]
    content, header_length = encode_response(response, outputs, binary_names)
    if header_length is None:
        answer = Response(content, media_type="application/json")
    else:
        answer = Response(
            content,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )
    recorded = None  # made last: nothing can fail between it and the route's await
    if request.app.state.recorder.enabled:  # each patient's JSON is made for the record only
        recorded = record_answers(request, predictor, patient_rows.tolist(), _outputs(values))
    return answer, recorded


MODEL_PREFIXES = ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}")


def _outputs(values: dict[str, np.ndarray]) -> str:
    """The patients' outputs as the record keeps them (`Row.outputs`)."""
    columns = [(name, v.tolist()) for name, v in values.items()]
    each = [json.dumps({name: v[i] for name, v in columns}) for i in range(len(columns[0][1]))]
    return one_or_array(each)


def _requested(payload: dict[str, Any]) -> tuple[list[str], set[str]]:
    """The outputs to answer, in order, and those to send as binary."""
    all_binary = flag(parameters(payload, "the request"), "binary_data_output", False)
    requested = payload.get("outputs")
    if requested is None:
        return list(OUTPUTS), set(OUTPUTS) if all_binary else set()
    if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
        raise TensorError("'outputs' must be a list of objects with a 'name'")
    names, binary = [], set()
    for o in requested:
        name = o.get("name")
        if not isinstance(name, str) or name not in OUTPUTS:
            raise TensorError(f"unknown output '{name}' (outputs: {', '.join(OUTPUTS)})")
        refuse_unknown_keys(o, OUTPUT_KEYS, f"output '{name}': ")
        names.append(name)
        if flag(parameters(o, f"output '{name}'"), "binary_data", all_binary):
            binary.add(name)
    return names, binary


def install(app: FastAPI) -> None:
    """On the app, not a router: see app.api.scoring.install."""

    @app.get("/v2", summary="V2 server metadata", tags=[TAG])
    @declare(PUBLIC)
    async def server_metadata(request: Request) -> dict[str, Any]:
        return {
            "name": "heart-risk-service",
            "version": request.app.version,  # the package's, set by create_app
            "extensions": ["binary_tensor_data"],
        }

    @app.get("/v2/health/live", summary="V2 liveness", tags=[TAG])
    @declare(OPERATIONS)
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(
        "/v2/health/ready",
        summary="V2 readiness (the same as /ready)",
        responses=v2_errors(503),
        tags=[TAG],
    )
    @declare(OPERATIONS)
    async def ready(request: Request) -> Response:
        if request.app.state.readiness_problem is not None:
            return _error(503, request.app.state.readiness_problem)
        return JSONResponse({"ready": True})

    model_routes: tuple[tuple[str, Any, str, str, Any, dict[str, Any]], ...] = (
        # suffix, endpoint, method, summary, errors, extra
        ("", _metadata, "GET", "V2 model metadata", v2_errors(404, 503), {}),
        ("/ready", _ready, "GET", "V2 model readiness", v2_errors(404, 503), {}),
        (
            "/infer",
            infer,
            "POST",
            "V2 inference",
            {**v2_errors(400, 404, 503), **responses(401, 413)},
            {"openapi_extra": INFER_BODY},
        ),
    )
    for prefix in MODEL_PREFIXES:
        for suffix, endpoint, method, summary, errors, extra in model_routes:
            app.add_api_route(
                prefix + suffix,
                endpoint,
                methods=[method],
                summary=summary,
                responses=errors,
                tags=[TAG],
                **{
                    **extra,
                    "openapi_extra": {
                        **extra.get("openapi_extra", {}),
                        "parameters": path_parameters(prefix),
                    },
                },
            )
    app.openapi = with_served_names(app, app.openapi)  # type: ignore[method-assign]
