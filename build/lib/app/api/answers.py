"""The JSON text of the answers to /predict, /explain and their batches.

Answers are written as text directly: `app.api.answer_models.Prediction` and
`Explanation` document their shape (tests/app/test_responses.py parses every
kind of answer with them), but building and re-validating a model per
answer would cost more than the prediction itself (docs/performance.md).
`repr` of a float is valid JSON (every figure here is finite); warnings and
contributions go through `json.dumps`.

Each function also counts what it answers in Prometheus (`app.observability.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache

from app.observability.metrics import count_predictions, count_warnings
from model.ensemble import LEVEL
from model.features import CLASS_LABELS, FEATURE_NAMES, THRESHOLD
from model.missing import MissingRange
from model.serving import Assessment, Predictor
from model.typicality import PatientWarning


def predictions(predictor: Predictor, rows: Sequence[Sequence[float]]) -> list[str]:
    """Each row's /predict answer, as JSON text, in order."""
    assessments = predictor.assess(rows)
    _count(assessments)
    tails = _tails(predictor.version)
    return [_prediction(a, tails) for a in assessments]


def explanations(predictor: Predictor, rows: Sequence[Sequence[float]]) -> list[str]:
    """Each row's /explain answer, as JSON text, in order (milliseconds a
    row: the routes call this in a worker thread)."""
    explained = predictor.explain(rows)
    _count([e.assessment for e in explained])
    tails = _tails(predictor.version)
    out = []
    for e, row in zip(explained, rows, strict=True):
        measured = [
            c for c in zip(FEATURE_NAMES, row, e.contributions, strict=True) if c[1] is not None
        ]
        contributions = sorted(measured, key=lambda c: -abs(c[2]))
        listed = ",".join(
            f'{{"field":"{name}","value":{value!r},"contribution":{c!r}}}'
            for name, value, c in contributions
        )
        head = _prediction(e.assessment, tails)[:-1]
        out.append(f'{head},"base_value":{e.base_value!r},"contributions":[{listed}]}}')
    return out


_LEVEL = f',"level":{LEVEL!r}}},"warnings":'


def _prediction(a: Assessment, tails: tuple[str, str]) -> str:
    p = a.probability
    warnings = _warnings(a.warnings) if a.warnings else "[]"
    missing = f',"missing":[{_missing(a.missing)}]' if a.missing else ""
    return (
        f'{{"probability":{p!r},{tails[p >= THRESHOLD]},'
        f'"interval":{{"low":{a.low!r},"high":{a.high!r}{_LEVEL}{warnings}{missing}}}'
    )


def _missing(ranges: tuple[MissingRange, ...]) -> str:
    return ",".join(
        f'{{"field":"{FEATURE_NAMES[r.field]}","if_measured":{{"low":{r.low!r},"high":{r.high!r}}}}}'
        for r in ranges
    )


def _warnings(warnings: tuple[PatientWarning, ...]) -> str:
    return json.dumps(
        [
            {"code": w.code, "message": w.message}
            if w.field is None
            else {"code": w.code, "field": w.field, "message": w.message}
            for w in warnings
        ]
    )


def _count(assessments: Sequence[Assessment]) -> None:
    n_presence = sum(a.probability >= THRESHOLD for a in assessments)
    count_predictions(n_presence, len(assessments) - n_presence)
    for a in assessments:
        if a.warnings:
            count_warnings(w.code for w in a.warnings)


@cache
def _tails(version: str) -> tuple[str, str]:
    """What follows the probability in an answer of class 0 and of class 1."""
    quoted = json.dumps(version)
    return tuple(  # type: ignore[return-value]
        f'"class":{c},"label":"{CLASS_LABELS[c]}","model_version":{quoted}' for c in (0, 1)
    )
