"""An answer as a FHIR R4 `RiskAssessment`: what a CDS Hooks card's
suggestion creates in the EHR, and what `$assess` will return.

- `status` final; `subject` the patient; `occurrenceDateTime` when answered;
- `basis`: the Patient and every Observation an input was read from;
- `method`: this service's own coding, with the model's version;
- `prediction[0]`: `outcome` coronary heart disease (SNOMED CT 53741008),
  `probabilityDecimal` the answer's probability *as a fraction* (0.41, not
  41), `qualitativeRisk` from QUALITATIVE_BANDS, and a `rationale` stating
  the interval and the inputs not measured, with what measuring each could do.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.clinical.fhir_inputs import Reading
from model.ensemble import LEVEL
from model.features import FEATURE_NAMES
from model.serving import Assessment

SNOMED = "http://snomed.info/sct"
CORONARY_HEART_DISEASE = {
    "system": SNOMED,
    "code": "53741008",
    "display": "Coronary arteriosclerosis (disorder)",
}
METHOD_SYSTEM = "urn:heart-risk-service:fhir:CodeSystem:method"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
QUALITATIVE_BANDS = ((0.2, "low", "Low likelihood"), (0.5, "moderate", "Moderate likelihood"),
                     (1.01, "high", "High likelihood"))  # fmt: skip
"""Upper bounds (exclusive): under 0.2 low, under 0.5 moderate, else high
(0.5 is the service's own threshold between absence and presence)."""


def qualitative(probability: float) -> dict[str, str]:
    for bound, code, display in QUALITATIVE_BANDS:
        if probability < bound:
            return {"system": RISK_PROBABILITY, "code": code, "display": display}
    raise ValueError(f"not a probability: {probability!r}")


def risk_assessment(
    patient_id: str,
    readings: list[Reading],
    answer: Assessment,
    model_version: str,
    when: datetime,
) -> dict[str, Any]:
    """The RiskAssessment (as JSON) of `answer`, given for the inputs `readings`."""
    sources = sorted({r.source for r in readings if r.value is not None and r.source})
    basis = [f"Patient/{patient_id}", *(s for s in sources if s.startswith("Observation/"))]
    return {
        "resourceType": "RiskAssessment",
        "id": str(uuid.uuid4()),
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": when.isoformat(timespec="seconds"),
        "basis": [{"reference": reference} for reference in basis],
        "method": {
            "coding": [
                {
                    "system": METHOD_SYSTEM,
                    "code": "heart-disease-risk",
                    "version": model_version,
                    "display": f"Heart-disease risk network, model {model_version}",
                }
            ],
        },
        "prediction": [
            {
                "outcome": {"coding": [CORONARY_HEART_DISEASE], "text": "Coronary heart disease"},
                "probabilityDecimal": answer.probability,
                "qualitativeRisk": {"coding": [qualitative(answer.probability)]},
                "rationale": rationale(answer),
            }
        ],
    }


def rationale(answer: Assessment) -> str:
    """The interval, and each input not measured with what measuring it could do."""
    text = (
        f"{LEVEL:.0%} interval {answer.low:.2f} to {answer.high:.2f} (networks trained on "
        "resamples of the training data"
    )
    if not answer.missing:
        return text + "). Every input was measured."
    ranges = "; ".join(
        f"{FEATURE_NAMES[r.field]} (measuring it could move the probability to "
        f"{r.low:.2f}-{r.high:.2f})"
        for r in answer.missing
    )
    return (
        f"{text}, and the plausible values of what was not measured). Not measured: {ranges}. "
        "The probability averages over the values of similar training patients."
    )
