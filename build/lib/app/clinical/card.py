"""An answer as a CDS Hooks 2.0 card: what a clinician reads in the EHR.

- `summary` (under 140 characters): the probability and its interval;
- `indicator`: `warning` from WARNING_FROM (the service's own threshold
  between absence and presence), else `info`;
- `source`: a label and the URL of the model's description;
- `detail` (Markdown): the inputs used (value as charted, source, date), the
  largest contributions in words, every warning, every input not measured
  with what measuring it could do, and every charted value not used and why;
- one suggestion (`selectionBehavior` at-most-one) whose `create` action
  carries the answer's FHIR RiskAssessment (`app.clinical.risk_assessment`);
- with SMART_CLIENTS_FILE set, a `smart` link to the risk page's launch.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.clinical.fhir_inputs import Reading
from app.clinical.risk_assessment import risk_assessment
from model.ensemble import LEVEL
from model.features import FEATURE_NAMES, FEATURES, THRESHOLD
from model.serving import Explanation

WARNING_FROM = THRESHOLD
TOP_CONTRIBUTIONS = 3
SOURCE_LABEL = "Heart-disease risk service (research use only)"
PAGE_LABEL = "Open the risk page"


def card(
    patient_id: str,
    readings: list[Reading],
    explained: Explanation,
    model_version: str,
    model_url: str,
    when: datetime,
    page_url: str | None = None,
) -> dict[str, Any]:
    """The card (as JSON) for the answer `explained`, given for `readings`;
    with `page_url` (the risk page's SMART launch URL), a link to it."""
    a = explained.assessment
    missing = sum(r.value is None for r in readings)
    summary = (
        f"Heart-disease risk {a.probability:.0%} ({LEVEL:.0%} interval {a.low:.0%}-{a.high:.0%})"
        + (f"; {missing} of 13 inputs not on file" if missing else "")
    )
    resource = risk_assessment(patient_id, readings, a, model_version, when)
    card_id = str(uuid.uuid4())
    links = {"links": [{"label": PAGE_LABEL, "url": page_url, "type": "smart",
                        "appContext": card_id}]} if page_url else {}  # fmt: skip
    return {
        "uuid": card_id,
        "summary": summary,
        "indicator": "warning" if a.probability >= WARNING_FROM else "info",
        "source": {"label": SOURCE_LABEL, "url": model_url},
        "detail": detail(readings, explained),
        "selectionBehavior": "at-most-one",
        "suggestions": [
            {
                "label": "Record this risk assessment",
                "uuid": str(uuid.uuid4()),
                "actions": [
                    {
                        "type": "create",
                        "description": f"Record a RiskAssessment of {a.probability:.0%}",
                        "resource": resource,
                    }
                ],
            }
        ],
        **links,
    }


def detail(readings: list[Reading], explained: Explanation) -> str:
    """The card's Markdown detail."""
    a = explained.assessment
    lines = ["**Inputs used**", "", "| input | value | from | date |", "|---|---|---|---|"]
    for r in readings:
        if r.value is not None:
            shown = r.shown if r.shown is not None else f"{r.value:g}"
            lines.append(f"| {_label(r.field)} | {shown} | {r.source or ''} | {r.when or ''} |")
    measured = [(FEATURE_NAMES[i], c) for i, c in enumerate(explained.contributions) if c != 0.0]
    top = sorted(measured, key=lambda fc: -abs(fc[1]))[:TOP_CONTRIBUTIONS]
    base = explained.base_value
    lines += ["", f"**Why**: the reference patients score {base:.0%} on average;"]
    lines.append(
        "; ".join(
            f"{_label(f)} {'raises' if c > 0 else 'lowers'} it by {_points(c)}" for f, c in top
        )
        + " (exact Shapley contributions of the measured inputs)."
    )
    if a.warnings:
        lines += ["", "**Warnings**", ""] + [f"- {w.message}" for w in a.warnings]
    refused = [r for r in readings if r.value is None and r.problem]
    if refused:
        lines += ["", "**Charted but not used**", ""]
        lines += [f"- {_label(r.field)} ({r.source}): {r.problem}" for r in refused]
    if a.missing:
        lines += ["", "**Not measured: what measuring it could do**", ""]
        lines += [
            f"- {_label(FEATURE_NAMES[m.field])}: the probability would be between "
            f"{m.low:.0%} and {m.high:.0%}"
            for m in a.missing
        ]
    return "\n".join(lines)


def _points(contribution: float) -> str:
    return f"{abs(contribution) * 100:.1f} points"


def _label(field: str) -> str:
    return FEATURES[FEATURE_NAMES.index(field)].description
