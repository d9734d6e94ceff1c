"""Answer models: what the service answers, for the OpenAPI document and the
tests. The scoring answers themselves are written as JSON text by
`app.api.answers`; tests/app/test_responses.py parses every kind of answer with
these models, which keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model.features import CLASS_LABELS, THRESHOLD

_EXAMPLE_ANSWER: dict[str, Any] = {
    "probability": 0.4104865205544248,
    "class": 0,
    "label": "absence",
    "model_version": "0.1.0+02f81ea8ad69",
    "interval": {"low": 0.271515145433602, "high": 0.4937674585168144, "level": 0.9},
    "warnings": [],
}
"""The service's answer for EXAMPLE_PATIENT (the OpenAPI examples)."""

_EXAMPLE_MISSING_ANSWER: dict[str, Any] = {
    "probability": 0.63,
    "class": 1,
    "label": "presence",
    "model_version": _EXAMPLE_ANSWER["model_version"],
    "interval": {"low": 0.24, "high": 0.95, "level": 0.9},
    "warnings": [
        {
            "code": "missing_input",
            "field": "thal",
            "message": "thal was not measured: the probability averages over the values it "
            "takes in training patients like this one; measuring it could move the "
            "probability to between 0.44 and 0.78.",
        }
    ],
    "missing": [{"field": "thal", "if_measured": {"low": 0.44, "high": 0.78}}],
}
"""An answer with thal (and, not shown, st_slope and num_major_vessels) null."""


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

    code: Literal["outside_training_range", "atypical_patient", "missing_input"] = Field(
        examples=["outside_training_range"]
    )
    field: str | None = Field(
        default=None,
        description="The field concerned (outside_training_range, missing_input).",
        examples=["age"],
    )
    message: str = Field(
        examples=[
            "age is 25 years, outside the training data's range 29 to 77 years: "
            "the model has seen no such patient."
        ]
    )


class IfMeasured(BaseModel):
    low: float = Field(ge=0, le=1, examples=[0.49])
    high: float = Field(ge=0, le=1, examples=[0.73])


class MissingField(BaseModel):
    """A field sent as null (not measured), and what measuring it could do."""

    field: str = Field(examples=["thal"])
    if_measured: IfMeasured = Field(
        description="The 5th to 95th percentile of the probability this answer would give "
        "with the field measured, over its plausible values given the measured fields."
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
        description="The model's recipe: the package version + a digest of the training "
        "data, settings, seeds and code (the same on every machine that trains it; "
        "`artifact_sha256` in /model is the identity of the trained bits).",
        examples=["0.1.0+02f81ea8ad69"],
    )
    interval: Interval = Field(
        description="How much the probability would move with other training data: the "
        "5th to 95th percentile of networks trained on bootstrap resamples."
    )
    warnings: list[AnswerWarning] = Field(
        description="Empty, or why this answer deserves less trust: a value outside the "
        "training data, an unusual patient, or a field not measured (one `missing_input` each).",
        examples=[[]],
    )
    missing: list[MissingField] | None = Field(
        default=None,
        description="Only when some fields were null: each such field, in field order, with "
        "the range its measurement could move the probability to. The probability is then "
        "the model's expectation over the unmeasured values given the measured ones, and "
        "the interval covers those values as well as the training sample.",
    )

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [_EXAMPLE_ANSWER, _EXAMPLE_MISSING_ANSWER]},
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
    recalibration: dict[str, Any] | None = Field(
        default=None,
        description="When a site recalibrated the model (`python -m scripts.recalibrate`): its "
        "patients (n, prevalence), the fitted intercept and slope on the log-odds, the data's "
        "SHA-256, when, and the model version it recalibrated.",
    )


class V2Error(BaseModel):
    """The Open Inference Protocol's error shape."""

    error: str = Field(examples=["row 1, field thal: Input should be one of 3 (normal), ..."])
