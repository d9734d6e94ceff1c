"""Request and response models.

The patient schema is built from `model.features.FEATURES`, the one table of
columns, so the API, the training data and the artifact cannot disagree on
names, order, codes or ranges. Validation is strict: numbers must be JSON
numbers (no strings, no booleans), coded fields and counts must be integers,
NaN and infinities are refused, unknown fields are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)

from model.features import (
    CLASS_LABELS,
    EXAMPLE_PATIENT,
    FEATURE_NAMES,
    FEATURES,
    THRESHOLD,
    Feature,
)

# The checks run inside pydantic-core; the only Python step is one call per
# patient (`_whole_floats`), not one per field, and `validate_json` skips even
# that for a body whose integer fields hold integers (docs/performance.md).
# Codes and counts are strict ints (no string, no boolean, no 3.5); since
# JSON Schema counts 3.0 as an integer, `_whole_floats` turns such floats
# into ints first. Clear messages for codes come from `explain`.
WHOLE_NUMBER_FIELDS = frozenset(f.name for f in FEATURES if f.codes is not None or f.integer)


def _whole_floats(data: Any) -> Any:
    """3.0 -> 3 for the integer fields (anything else is left to the schema)."""
    if isinstance(data, dict):
        whole = {
            k: int(v)
            for k, v in data.items()
            if type(v) is float and k in WHOLE_NUMBER_FIELDS and v.is_integer()
        }
        if whole:
            return {**data, **whole}
    return data


def _code_type(feature: Feature) -> Any:
    codes = sorted(feature.codes or {})
    if codes == list(range(codes[0], codes[-1] + 1)):  # contiguous: a range
        return Annotated[
            int,
            Strict(),
            Field(ge=codes[0], le=codes[-1]),
            WithJsonSchema({"type": "integer", "enum": codes}),
        ]
    if 0 in codes or 1 in codes:  # Literal would take true/false for 1/0
        raise ValueError(f"{feature.name}: codes must be contiguous or exclude 0 and 1")
    return Literal[tuple(codes)]


def _field(feature: Feature) -> tuple[Any, Any]:
    """The pydantic type and Field of one feature."""
    if feature.codes is not None:
        codes = "; ".join(f"{code} = {meaning}" for code, meaning in feature.codes.items())
        return (
            _code_type(feature),
            Field(
                description=f"{feature.description}. Codes: {codes}.", examples=[feature.example]
            ),
        )
    description = (
        f"{feature.description}, in {feature.unit} ({feature.minimum:g} to {feature.maximum:g})."
    )
    kind: Any = Annotated[int, Strict()] if feature.integer else float
    return (
        kind,
        Field(
            ge=feature.minimum,
            le=feature.maximum,
            allow_inf_nan=False,
            description=description,
            examples=[feature.example],
        ),
    )


_BY_NAME = {f.name: f for f in FEATURES}
_CODE_ERRORS = {"less_than_equal", "greater_than_equal", "literal_error", "int_type"}


def explain(field: str, error_type: str, message: str) -> tuple[str, str]:
    """The (type, message) to report for a validation error on `field`: for a
    coded feature, the codes it accepts."""
    feature = _BY_NAME.get(field)
    if feature is not None and feature.codes is not None and error_type in _CODE_ERRORS:
        allowed = ", ".join(f"{code} ({meaning})" for code, meaning in feature.codes.items())
        return "code", f"Input should be one of {allowed}"
    return error_type, message


def _patient_model(name: str, whole_floats: bool) -> Any:
    """The patient schema; with `whole_floats`, 3.0 is taken for 3 in the
    integer fields (one Python step per patient)."""
    return create_model(  # type: ignore[call-overload]
        name,
        __config__=ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={"examples": [EXAMPLE_PATIENT]},
        ),
        __doc__="One patient's 13 clinical measurements, in heart.dat's column order.",
        __validators__=(
            {"whole_floats": model_validator(mode="before")(_whole_floats)} if whole_floats else {}
        ),
        **{f.name: _field(f) for f in FEATURES},
    )


Patient = _patient_model("Patient", whole_floats=True)


if tuple(Patient.model_fields) != FEATURE_NAMES:  # the order `rows` relies on
    raise RuntimeError("Patient's fields must be FEATURE_NAMES, in order")


def rows(patients: Sequence[Any]) -> list[list[float]]:
    """Validated `Patient`s as the model's input rows (FEATURE_NAMES order).

    A validated Patient holds exactly its fields, in FEATURE_NAMES order
    (checked above, when this module is imported), so its `__dict__` is the
    row: cheaper than 13 `getattr` calls on the request path.
    """
    return [list(p.__dict__.values()) for p in patients]


class BatchRequest(BaseModel):
    """Several patients; answers come back in the same order."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={"examples": [{"patients": [EXAMPLE_PATIENT]}]},
    )

    patients: list[Patient] = Field(  # type: ignore[valid-type]
        min_length=1,
        description="1 to MAX_BATCH patients (default 1000) for /predict/batch, "
        "1 to MAX_EXPLAIN_BATCH (default 100) for /explain/batch.",
    )


# The same schemas without the Python step: they accept a subset of what
# Patient and BatchRequest accept (no 3.0 for 3), with the same values.
_IntegerPatient = _patient_model("IntegerPatient", whole_floats=False)


class _IntegerBatch(BatchRequest):
    patients: list[_IntegerPatient] = Field(min_length=1)  # type: ignore[valid-type]


_WITHOUT_PYTHON: dict[type[BaseModel], type[BaseModel]] = {
    Patient: _IntegerPatient,
    BatchRequest: _IntegerBatch,
}


def validate_json(model: type[BaseModel], body: bytes) -> Any:
    """`body` (JSON bytes) validated as `model` (Patient or BatchRequest), or
    pydantic's ValidationError.

    pydantic-core parses the bytes itself, with no `json.loads` and no Python
    dict. It tries first the schema without the whole-float step, which
    answers nearly every request (clients send 3, not 3.0) without a line of
    Python; only a body it refuses is validated again by `model`, whose
    errors are the ones reported (measured effect: docs/performance.md).
    """
    try:
        return _WITHOUT_PYTHON[model].model_validate_json(body)
    except ValidationError:
        return model.model_validate_json(body)


_EXAMPLE_ANSWER: dict[str, Any] = {
    "probability": 0.4104865205544248,
    "class": 0,
    "label": "absence",
    "model_version": "0.1.0+c520b2d6efad",
    "interval": {"low": 0.271515145433602, "high": 0.4937674585168144, "level": 0.9},
    "warnings": [],
}
"""The service's answer for EXAMPLE_PATIENT (the OpenAPI examples)."""


class Interval(BaseModel):
    """How sure: the spread of a bootstrap ensemble's answers."""

    low: float = Field(
        ge=0, le=1, description="5th percentile of the ensemble's probabilities.", examples=[0.27]
    )
    high: float = Field(
        ge=0, le=1, description="95th percentile of the ensemble's probabilities.", examples=[0.49]
    )
    level: float = Field(
        description="The share of the ensemble's answers between low and high.", examples=[0.9]
    )


class AnswerWarning(BaseModel):
    """Why this answer deserves less trust. Never a refusal."""

    code: Literal["outside_training_range", "atypical_patient"] = Field(
        examples=["outside_training_range"]
    )
    field: str | None = Field(
        default=None,
        description="The field concerned (outside_training_range only).",
        examples=["age"],
    )
    message: str = Field(
        examples=[
            "age is 25 years, outside the training data's range 29 to 77 years: "
            "the model has seen no such patient."
        ]
    )


class Prediction(BaseModel):
    probability: float = Field(
        ge=0,
        le=1,
        description="Estimated probability of heart disease (presence), from the served network.",
        examples=[0.41],
    )
    class_: Literal[0, 1] = Field(
        alias="class",
        description=f"1 (presence) when probability >= {THRESHOLD}, else 0 (absence).",
        examples=[0],
    )
    label: Literal["absence", "presence"] = Field(examples=["absence"])
    model_version: str = Field(
        description="Version of the model that answered.", examples=["0.1.0+4cb9deb4e82d"]
    )
    interval: Interval = Field(
        description="How much the probability would move with other training data: the "
        "5th to 95th percentile of networks trained on bootstrap resamples."
    )
    warnings: list[AnswerWarning] = Field(
        description="Empty, or why this patient is unlike the training data.",
        examples=[[]],
    )

    model_config = ConfigDict(
        populate_by_name=True, json_schema_extra={"examples": [_EXAMPLE_ANSWER]}
    )


class BatchPrediction(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per patient, in order.")


class Contribution(BaseModel):
    field: str = Field(examples=["thal"])
    value: float = Field(description="The patient's value.", examples=[3])
    contribution: float = Field(
        description="How much this value moved the probability from base_value "
        "(exact Shapley value).",
        examples=[-0.12],
    )


class Explanation(Prediction):
    """A prediction with the reasons for it: base_value + the sum of the
    contributions equals probability."""

    base_value: float = Field(
        description="Mean probability over the background training patients.", examples=[0.49]
    )
    contributions: list[Contribution] = Field(
        description="All 13 features, largest absolute contribution first.",
        examples=[
            [
                {"field": "thal", "value": 3, "contribution": -0.1249},
                {"field": "num_major_vessels", "value": 0, "contribution": -0.0840},
                {"field": "chest_pain_type", "value": 4, "contribution": 0.0690},
            ]
        ],
    )

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    **_EXAMPLE_ANSWER,
                    "base_value": 0.49062392775453856,
                    "contributions": [
                        {"field": "thal", "value": 3, "contribution": -0.1249},
                        {"field": "num_major_vessels", "value": 0, "contribution": -0.0840},
                        {"field": "chest_pain_type", "value": 4, "contribution": 0.0690},
                        {"field": "...", "value": 0, "contribution": 0.0},
                    ],
                }
            ]
        },
    )


class ExplanationBatch(BaseModel):
    """One explanation per patient, in the order of the request."""

    explanations: list[Explanation] = Field(description="One explanation per patient, in order.")


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


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    detail: str | None = None


class FeatureInfo(BaseModel):
    name: str
    description: str
    unit: str | None
    minimum: float | None
    maximum: float | None
    integer: bool
    codes: dict[int, str] | None


class ModelInfo(BaseModel):
    model_version: str
    artifact_sha256: str
    trained_at: str | None
    threshold: float
    class_labels: list[str] = Field(examples=[list(CLASS_LABELS)])
    features: list[FeatureInfo]
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any] = Field(
        description="Held-out (and, if recorded, cross-validated) metrics."
    )
    data: dict[str, Any]
    ensemble: dict[str, Any] = Field(
        description="The bootstrap ensemble behind the interval: size, level, held-out "
        "coverage and mean width."
    )
    background: dict[str, Any] = Field(
        description="The Shapley background: size, how it was drawn, how much the "
        "contributions move when it is drawn again."
    )
    warnings: dict[str, Any] = Field(
        description="The atypical_patient threshold and the measured share of patients it "
        "flags (out-of-fold and on the training rows)."
    )
