"""The answers to /predict, /explain and their batches, as JSON text.

Each answer is a plain dict of its type in `app.api.answer_models`; a
request's answers are written at once by pydantic-core from that type's
schema (the one the routes publish in OpenAPI). Each function also counts
what it answers in Prometheus (`app.observability.metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import TypeAdapter

from app.api.answer_models import AnswerWarning, Contribution, Explanation, Prediction
from app.observability.metrics import count_predictions, count_warnings
from model.ensemble import LEVEL
from model.features import CLASS_LABELS, FEATURE_NAMES, THRESHOLD
from model.serving import Assessment, Predictor

_PREDICTIONS: TypeAdapter[list[Prediction]] = TypeAdapter(list[Prediction])
_EXPLANATIONS: TypeAdapter[list[Explanation]] = TypeAdapter(list[Explanation])


def predictions(predictor: Predictor, rows: Sequence[Sequence[float]]) -> str:
    """The rows' /predict answers, in order, as one JSON array."""
    assessments = predictor.assess(rows)
    _count(assessments)
    version = predictor.version
    return _PREDICTIONS.dump_json([_prediction(a, version) for a in assessments]).decode()


def explanations(predictor: Predictor, rows: Sequence[Sequence[float]]) -> str:
    """The rows' /explain answers, in order, as one JSON array (milliseconds
    a row: the routes call this in a worker thread)."""
    explained = predictor.explain(rows)
    _count([e.assessment for e in explained])
    out = []
    for e, row in zip(explained, rows, strict=True):
        measured: list[Contribution] = [
            {"field": name, "value": value, "contribution": c}
            for name, value, c in zip(FEATURE_NAMES, row, e.contributions, strict=True)
            if value is not None
        ]
        answer = Explanation(
            **_prediction(e.assessment, predictor.version),
            base_value=e.base_value,
            contributions=sorted(measured, key=lambda c: -abs(c["contribution"])),
        )
        out.append(answer)
    return _EXPLANATIONS.dump_json(out).decode()


def alone(answers: str) -> str:
    """The one answer of a JSON array of one (`predictions`, `explanations`),
    as its own JSON text: the array's compact JSON is `[` + it + `]`."""
    return answers[1:-1]


def _prediction(a: Assessment, version: str) -> Prediction:
    """The /predict answer for one assessment."""
    c: Literal[0, 1] = 1 if a.probability >= THRESHOLD else 0
    answer: Prediction = {
        "probability": a.probability,
        "class": c,
        "label": CLASS_LABELS[c],
        "model_version": version,
        "interval": {"low": a.low, "high": a.high, "level": LEVEL},
        "warnings": [_warning(w.code, w.field, w.message) for w in a.warnings],
    }
    if a.missing:
        answer["missing"] = [
            {"field": FEATURE_NAMES[r.field], "if_measured": {"low": r.low, "high": r.high}}
            for r in a.missing
        ]
    return answer


def _warning(code: str, field: str | None, message: str) -> AnswerWarning:
    if field is None:
        return {"code": code, "message": message}  # type: ignore[typeddict-item]
    return {"code": code, "field": field, "message": message}  # type: ignore[typeddict-item]


def _count(assessments: Sequence[Assessment]) -> None:
    n_presence = sum(a.probability >= THRESHOLD for a in assessments)
    count_predictions(n_presence, len(assessments) - n_presence)
    for a in assessments:
        if a.warnings:
            count_warnings(w.code for w in a.warnings)
