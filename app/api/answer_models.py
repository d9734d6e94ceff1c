"""What the service answers: the one definition of each answer's shape.

The scoring answers (`Prediction`, `Explanation`, their batches) are
TypedDicts: `app.api.answers` builds plain dicts of these types (mypy checks
them) and pydantic-core writes their JSON from the same schema that the
routes' `response_model` publishes in OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from model.features import THRESHOLD

_EXAMPLE_ANSWER: dict[str, Any] = {
    "probability": 0.4104865205544248,
    "class": 0,
    "label": "absence",
    "model_version": "0.1.0+2efa9f462c6c",
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

_STRICT = ConfigDict(extra="forbid")
"""An answer holds what its type documents, and nothing else."""


Unit = Annotated[float, Field(ge=0, le=1)]
"""A probability."""


@with_config(_STRICT)
class Interval(TypedDict):
    """How sure: the spread of a bootstrap ensemble's answers."""

    low: Annotated[
        Unit, Field(description="5th percentile of the ensemble's probabilities.", examples=[0.27])
    ]
    high: Annotated[
        Unit, Field(description="95th percentile of the ensemble's probabilities.", examples=[0.49])
    ]
    level: Annotated[
        float,
        Field(
            description="The share of the ensemble's answers between low and high.", examples=[0.9]
        ),
    ]


@with_config(_STRICT)
class AnswerWarning(TypedDict):
    """Why this answer deserves less trust. Never a refusal."""

    code: Annotated[
        Literal["outside_training_range", "atypical_patient", "missing_input"],
        Field(examples=["outside_training_range"]),
    ]
    field: NotRequired[
        Annotated[
            str,
            Field(
                description="The field concerned (outside_training_range, missing_input).",
                examples=["age"],
            ),
        ]
    ]
    message: Annotated[
        str,
        Field(
            examples=[
                "age is 25 years, outside the training data's range 29 to 77 years: "
                "the model has seen no such patient."
            ]
        ),
    ]


@with_config(_STRICT)
class IfMeasured(TypedDict):
    low: Annotated[Unit, Field(examples=[0.49])]
    high: Annotated[Unit, Field(examples=[0.73])]


@with_config(_STRICT)
class MissingField(TypedDict):
    """A field sent as null (not measured), and what measuring it could do."""

    field: Annotated[str, Field(examples=["thal"])]
    if_measured: Annotated[
        IfMeasured,
        Field(
            description="The 5th to 95th percentile of the probability this answer would give "
            "with the field measured, over its plausible values given the measured fields."
        ),
    ]


Prediction = TypedDict(  # functional syntax: "class" is a keyword
    "Prediction",
    {
        "probability": Annotated[
            Unit,
            Field(
                description="Estimated probability of heart disease (presence), from the "
                "served network.",
                examples=[0.41],
            ),
        ],
        "class": Annotated[
            Literal[0, 1],
            Field(
                description=f"1 (presence) when probability >= {THRESHOLD}, else 0 (absence).",
                examples=[0],
            ),
        ],
        "label": Annotated[Literal["absence", "presence"], Field(examples=["absence"])],
        "model_version": Annotated[
            str,
            Field(
                description="The model's recipe: the package version + a digest of the "
                "training data, settings, seeds and code (the same on every machine that "
                "trains it; `artifact_sha256` in /model is the identity of the trained bits).",
                examples=[_EXAMPLE_ANSWER["model_version"]],
            ),
        ],
        "interval": Annotated[
            Interval,
            Field(
                description="How much the probability would move with other training data: "
                "the 5th to 95th percentile of networks trained on bootstrap resamples."
            ),
        ],
        "warnings": Annotated[
            list[AnswerWarning],
            Field(
                description="Empty, or why this answer deserves less trust: a value outside "
                "the training data, an unusual patient, or a field not measured (one "
                "`missing_input` each).",
                examples=[[]],
            ),
        ],
        "missing": NotRequired[
            Annotated[
                list[MissingField],
                Field(
                    description="Only when some fields were null: each such field, in field "
                    "order, with the range its measurement could move the probability to. "
                    "The probability is then the model's expectation over the unmeasured "
                    "values given the measured ones, and the interval covers those values "
                    "as well as the training sample.",
                ),
            ]
        ],
    },
)
"""The answer to /predict: one patient's probability, class, interval and warnings."""
with_config(
    ConfigDict(
        **_STRICT, json_schema_extra={"examples": [_EXAMPLE_ANSWER, _EXAMPLE_MISSING_ANSWER]}
    )
)(Prediction)


@with_config(_STRICT)
class BatchPrediction(TypedDict):
    predictions: Annotated[
        list[Prediction], Field(description="One prediction per patient, in order.")
    ]


@with_config(_STRICT)
class Contribution(TypedDict):
    field: Annotated[str, Field(examples=["thal"])]
    value: Annotated[int | float, Field(description="The patient's value.", examples=[3])]
    contribution: Annotated[
        float,
        Field(
            description="How much this value moved the probability from base_value "
            "(exact Shapley value).",
            examples=[-0.12],
        ),
    ]


_EXAMPLE_CONTRIBUTIONS: list[Any] = [
    {"field": "thal", "value": 3, "contribution": -0.1249},
    {"field": "num_major_vessels", "value": 0, "contribution": -0.0840},
    {"field": "chest_pain_type", "value": 4, "contribution": 0.0690},
]


@with_config(
    ConfigDict(
        **_STRICT,
        json_schema_extra={
            "examples": [
                {
                    **_EXAMPLE_ANSWER,
                    "base_value": 0.49062392775453856,
                    "contributions": [
                        *_EXAMPLE_CONTRIBUTIONS,
                        {"field": "...", "value": 0, "contribution": 0.0},
                    ],
                }
            ]
        },
    )
)
class Explanation(Prediction):
    """A prediction with the reasons for it: base_value + the sum of the
    contributions equals probability."""

    base_value: Annotated[
        float,
        Field(
            description="Mean probability over the background training patients.", examples=[0.49]
        ),
    ]
    contributions: Annotated[
        list[Contribution],
        Field(
            description="Each measured feature, largest absolute contribution first.",
            examples=[_EXAMPLE_CONTRIBUTIONS],
        ),
    ]


@with_config(_STRICT)
class ExplanationBatch(TypedDict):
    """One explanation per patient, in the order of the request."""

    explanations: Annotated[
        list[Explanation], Field(description="One explanation per patient, in order.")
    ]
