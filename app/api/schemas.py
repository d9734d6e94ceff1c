"""Request models: what the scoring routes accept, and how a body is validated.

(What the service answers is in `app.api.answer_models`; a matrix of patients,
as the Open Inference Protocol sends them, is validated by
`app.v2.patient_matrix` against the same `Patient`.)

The patient schema is built from `model.features.FEATURES`, the one table of
columns, so the API, the training data and the artifact cannot disagree on
names, order, codes or ranges. Validation is strict: numbers must be JSON
numbers (no strings, no booleans), coded fields and counts must be integers,
NaN and infinities are refused, unknown fields are refused. Every field is
required, and may be null: not measured.
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
)
from pydantic_core import from_json, to_json

from app.clinical.fhir_inputs import MMOL_CHOLESTEROL
from app.guards.body_limits import (
    MAX_BYTES_PER_FIELD,
    TooManyProblemsError,
    parses,
    refuse_many_unknown_keys,
    too_long,
)
from model.features import (
    EXAMPLE_PATIENT,
    FEATURE_NAMES,
    FEATURES,
    Feature,
)

# The checks run inside pydantic-core, with no Python per field or patient.
# Codes and counts are strict ints (no string, no boolean, no 3.5); since
# JSON Schema counts 3.0 as an integer, `validate_json` takes a body that
# holds one again, with such floats made ints (`_whole_numbers`). Clear
# messages for codes come from `describe_error`.
WHOLE_NUMBER_FIELDS = frozenset(f.name for f in FEATURES if f.whole)


def _whole_numbers(patient: Any) -> Any:
    """3.0 -> 3 in a patient's integer fields (anything else is left to the schema)."""
    if isinstance(patient, dict):
        whole = {
            k: int(v)
            for k, v in patient.items()
            if type(v) is float and k in WHOLE_NUMBER_FIELDS and v.is_integer()
        }
        if whole:
            return {**patient, **whole}
    return patient


def _code_type(feature: Feature) -> Any:
    codes = sorted(feature.codes or {})
    if not feature.gaps:  # contiguous: a range
        low, high = feature.bounds
        return Annotated[
            int,
            Strict(),
            Field(ge=int(low), le=int(high)),
            WithJsonSchema({"type": "integer", "enum": codes}),
        ]
    if 0 in codes or 1 in codes:  # Literal would take true/false for 1/0
        raise ValueError(f"{feature.name}: codes must be contiguous or exclude 0 and 1")
    return Literal[tuple(codes)]


NOT_MEASURED = " null if not measured (the key itself is required)."


def _field(feature: Feature) -> tuple[Any, Any]:
    """The pydantic type and Field of one feature: required, and null when
    it was not measured (`model.missing` answers then)."""
    if feature.codes is not None:
        codes = "; ".join(f"{code} = {meaning}" for code, meaning in feature.codes.items())
        return (
            _code_type(feature) | None,
            Field(
                description=f"{feature.description}. Codes: {codes};{NOT_MEASURED}",
                examples=[feature.example],
            ),
        )
    description = (
        f"{feature.description}, in {feature.unit} ({feature.minimum:g} to {feature.maximum:g});"
        + NOT_MEASURED
    )
    kind: Any = Annotated[int, Strict()] if feature.integer else float
    return (
        kind | None,
        Field(
            ge=feature.minimum,
            le=feature.maximum,
            allow_inf_nan=False,
            description=description,
            examples=[feature.example],
        ),
    )


_EXAMPLE_UNMEASURED = {**EXAMPLE_PATIENT, "st_slope": None, "num_major_vessels": None, "thal": None}
"""A chart without the exercise slope, the fluoroscopy and the thallium scan."""

_BY_NAME = {f.name: f for f in FEATURES}
_CODE_ERRORS = {"less_than_equal", "greater_than_equal", "literal_error", "int_type"}


_RANGE_ERRORS = {"less_than_equal", "greater_than_equal"}
_MG_PER_MMOL = {"serum_cholesterol": MMOL_CHOLESTEROL}
"""Fields whose value a chart may hold in mmol/L: mg/dL per mmol/L."""


def describe_error(field: str, error_type: str, message: str) -> tuple[str, str]:
    """The (type, message) to report for a validation error on `field`: for a
    coded feature, the codes it accepts; for a measurement out of range,
    its unit and range (and, for cholesterol, the mmol/L conversion); for a
    field left out, that null means "not measured"."""
    feature = _BY_NAME.get(field)
    if feature is None:
        return error_type, message
    if feature.codes is not None and error_type in _CODE_ERRORS:
        allowed = ", ".join(f"{code} ({meaning})" for code, meaning in feature.codes.items())
        return "code", f"Input should be one of {allowed}"
    if error_type == "missing":
        return error_type, f'Field required: send "{field}": null if it was not measured'
    if error_type in _RANGE_ERRORS and feature.unit is not None:
        unit = feature.unit
        said = f"{message} {unit} (accepted: {feature.minimum:g} to {feature.maximum:g} {unit})"
        factor = _MG_PER_MMOL.get(field)
        if factor is not None:
            said += f"; a value in mmol/L times {factor} is mg/dL"
        return error_type, said
    return error_type, message


def _patient_model() -> Any:
    """The patient schema, from the table of features."""
    return create_model(  # type: ignore[call-overload]
        "Patient",
        __config__=ConfigDict(
            strict=True,
            extra="forbid",
            json_schema_extra={"examples": [EXAMPLE_PATIENT, _EXAMPLE_UNMEASURED]},
        ),
        __doc__="One patient's 13 clinical measurements, in heart.dat's column order; "
        "null for one not measured.",
        **{f.name: _field(f) for f in FEATURES},
    )


Patient = _patient_model()


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
        fail_fast=True,  # a batch of thousands of wrong patients costs one patient's checks
        description="1 to MAX_BATCH patients (default 1000) for /predict/batch, "
        "1 to MAX_EXPLAIN_BATCH (default 100) for /explain/batch. The problems of the "
        "first invalid patient are reported.",
    )


def validate_json(model: type[BaseModel], body: bytes, max_items: int | None = None) -> Any:
    """`body` (JSON bytes) validated as `model` (Patient or BatchRequest), or
    pydantic's ValidationError, or TooManyProblemsError.

    pydantic-core parses the bytes itself; a body refused where it may hold
    3.0 for a 3 is validated again with such floats made ints. A hostile
    body costs bounded work: more keys than objects can hold (over 14 colons
    per brace) skips the first pass, more than MAX_REPORTED unknown keys or
    a batch longer than `max_items` is answered from one look at the JSON,
    and a batch stops at its first invalid patient (docs/performance.md).
    """
    colons, braces = body.count(b":"), body.count(b"{")
    if max_items is not None and braces - 1 > max_items:  # more objects than patients allowed
        raise TooManyProblemsError([too_long(max_items, None)], 1)
    if len(body) > MAX_BYTES_PER_FIELD * max(colons, 1) + 4096 and parses(body):
        # a value far longer than any valid one (costly for pydantic-core: docs/performance.md;
        # what is not JSON at all is left to pydantic, which says so at once: 400)
        message = f"The body holds {len(body)} bytes for {colons} fields: a value is too long"
        raise TooManyProblemsError([{"type": "value_too_long", "loc": (), "msg": message}], 1)
    many_keys = colons > 14 * max(1, braces)
    if not many_keys:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            if not _may_be_whole_floats(exc):
                raise
    refuse_many_unknown_keys(body, model is not Patient, many_keys, colons)
    if many_keys:
        return model.model_validate_json(body)  # a refusal, whose errors are reported
    data = from_json(body)  # it parsed above: the refusal was of a value
    if model is Patient:
        data = _whole_numbers(data)
    elif isinstance(data, dict) and isinstance(data.get("patients"), list):
        data = {**data, "patients": [_whole_numbers(p) for p in data["patients"]]}
    return model.model_validate_json(to_json(data))  # JSON's rules, 3.0 now 3


def _may_be_whole_floats(exc: ValidationError) -> bool:
    """Whether the refusal may be only a 3.0 for a 3, which the public schema takes."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return any(e["type"] in _WHOLE_FLOAT_REFUSALS for e in errors)


_WHOLE_FLOAT_REFUSALS = {"int_type", "literal_error"}
