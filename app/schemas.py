"""Request and response models.

The patient schema is built from `model.features.FEATURES`, the one table of
columns, so the API, the training data and the artifact cannot disagree on
names, order, codes or ranges. Validation is strict: numbers must be JSON
numbers (no strings, no booleans), coded fields and counts must be integers,
NaN and infinities are refused, unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    create_model,
)
from pydantic_core import PydanticCustomError

from model.features import CLASS_LABELS, EXAMPLE_PATIENT, FEATURES, Feature


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer, so the API does too; 3.5 stays a
    float and is refused by the strict int check that follows."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number), Strict()]
"""A JSON integer (3, or 3.0): no fraction, no string, no boolean."""


def _code_check(feature: Feature) -> AfterValidator:
    codes = feature.codes or {}
    allowed = ", ".join(f"{code} ({meaning})" for code, meaning in codes.items())

    def check(value: int) -> int:
        if value not in codes:
            raise PydanticCustomError(
                "code", "Input should be one of {allowed}", {"allowed": allowed}
            )
        return value

    return AfterValidator(check)


def _field(feature: Feature) -> tuple[Any, Any]:
    """The pydantic type and Field of one feature."""
    if feature.codes is not None:
        codes = "; ".join(f"{code} = {meaning}" for code, meaning in feature.codes.items())
        return (
            Annotated[WholeNumber, _code_check(feature)],
            Field(
                description=f"{feature.description}. Codes: {codes}.",
                examples=[feature.example],
                json_schema_extra={"enum": list(feature.codes)},
            ),
        )
    kind: Any = WholeNumber if feature.integer else float
    return (
        kind,
        Field(
            ge=feature.minimum,
            le=feature.maximum,
            allow_inf_nan=False,
            description=(
                f"{feature.description}, in {feature.unit} "
                f"({feature.minimum:g} to {feature.maximum:g})."
            ),
            examples=[feature.example],
        ),
    )


Patient = create_model(  # type: ignore[call-overload]
    "Patient",
    __config__=ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_PATIENT]},
    ),
    __doc__="One patient's 13 clinical measurements, in heart.dat's column order.",
    **{f.name: _field(f) for f in FEATURES},
)


class BatchRequest(BaseModel):
    """Several patients; answers come back in the same order."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={"examples": [{"patients": [EXAMPLE_PATIENT]}]},
    )

    patients: list[Patient] = Field(  # type: ignore[valid-type]
        min_length=1, description="1 to MAX_BATCH patients (default 1000)."
    )


class Prediction(BaseModel):
    probability: float = Field(
        ge=0,
        le=1,
        description="Estimated probability of heart disease (presence).",
        examples=[0.24],
    )
    class_: Literal[0, 1] = Field(
        alias="class",
        description="1 (presence) when probability >= 0.5, else 0 (absence).",
        examples=[0],
    )
    label: Literal["absence", "presence"] = Field(examples=["absence"])
    model_version: str = Field(
        description="Version of the model that answered.", examples=["0.1.0+4cb9deb4e82d"]
    )

    model_config = ConfigDict(populate_by_name=True)


class BatchPrediction(BaseModel):
    predictions: list[Prediction] = Field(description="One prediction per patient, in order.")


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
