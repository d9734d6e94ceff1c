"""The OpenAPI declarations of the V2 routes (`app/v2/routes.py`): their
error answers, the documented form of an inference request, and the served
model name and version as the only values of the path parameters."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from model.features import EXAMPLE_PATIENT, FEATURE_NAMES, FEATURES, Feature


class V2Error(BaseModel):
    """The Open Inference Protocol's error shape."""

    error: str = Field(examples=["row 1, field thal: Input should be one of 3 (normal), ..."])


OUTPUTS = {
    "probability": "FP64",
    "class": "INT64",
    "interval_low": "FP64",
    "interval_high": "FP64",
}


def v2_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The request cannot be read, or a row is invalid (the message names it).",
        404: "Unknown model name or version.",
        503: "The model is not ready.",
    }
    return {s: {"model": V2Error, "description": described[s]} for s in statuses}


def _feature_schema(feature: Feature) -> dict[str, Any]:
    if feature.codes is not None:
        return {"type": "integer", "enum": sorted(feature.codes)}
    kind = "integer" if feature.integer else "number"
    return {"type": kind, "minimum": feature.minimum, "maximum": feature.maximum}


_INFER_SCHEMA = {
    "type": "object",
    "description": "A V2 inference request; documented here in its simplest form (one "
    "patient as a `patients` tensor of shape [1, 13], JSON data). The route also takes "
    "n patients, the 13 field tensors, FP32 and integer datatypes, and binary tensors "
    "(header Inference-Header-Content-Length).",
    "required": ["inputs"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "model_name": {
            "type": "string",
            "description": "Sent by KServe's client; not read (the path names the model).",
        },
        "parameters": {
            "type": ["object", "null"],
            "properties": {"binary_data_output": {"type": "boolean"}},
        },
        "inputs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "additionalProperties": False,
                "properties": {
                    "name": {"const": "patients"},
                    "shape": {"const": [1, len(FEATURES)]},
                    "datatype": {"const": "FP64"},
                    "parameters": {"type": ["object", "null"]},
                    "data": {
                        "type": "array",
                        "prefixItems": [_feature_schema(f) for f in FEATURES],
                        "minItems": len(FEATURES),
                        "maxItems": len(FEATURES),
                    },
                },
            },
        },
        "outputs": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"enum": list(OUTPUTS)},
                    "parameters": {
                        "type": ["object", "null"],
                        "properties": {"binary_data": {"type": "boolean"}},
                    },
                },
            },
        },
    },
    "example": {
        "id": "1",
        "inputs": [
            {
                "name": "patients",
                "shape": [1, len(FEATURES)],
                "datatype": "FP64",
                "data": [EXAMPLE_PATIENT[f] for f in FEATURE_NAMES],
            }
        ],
    },
}
INFER_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _INFER_SCHEMA}}},
    "responses": {
        "200": {
            "description": "The outputs, as JSON; with binary outputs asked for "
            "(`binary_data`, `binary_data_output`), a JSON header of "
            "Inference-Header-Content-Length bytes followed by the tensors' bytes.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
}


def path_parameters(path: str) -> list[dict[str, Any]]:
    """The OpenAPI declarations of the path parameters in `path` (the V2
    endpoints read them from the request, so FastAPI does not declare them)."""
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("model_name", "model_version")
        if "{" + name + "}" in path
    ]


def with_served_names(app: FastAPI, openapi: Any) -> Any:
    """`openapi`, with the model name and the version being served as the
    only values of the V2 path parameters (so that the docs page and a
    fuzzer offer the ones that exist; others still get 404)."""

    def patched() -> dict[str, Any]:
        schema: dict[str, Any] = openapi()
        predictor = getattr(app.state, "predictor", None)
        known = {"model_name": [app.state.settings.model_name]}
        if predictor is not None:
            known["model_version"] = [predictor.version]
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v2/models/"):
                continue
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") in known:
                        parameter["schema"] = {"type": "string", "enum": known[parameter["name"]]}
        return schema

    return patched
