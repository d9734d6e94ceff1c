"""The service's own FHIR CodeSystem (`OWN_SYSTEM`), served at
GET /fhir/CodeSystem/heart-disease-features: a code for each input that no
LOINC code names in the form the model takes, and the answer codes of the
coded ones.

Codes are unique in a CodeSystem, so an answer two inputs share (`normal`,
for the resting ECG and the thallium test) is one concept; its `answer-to`
property names every input it answers. An Observation's own code says which
input it is, so the answer is never ambiguous.
"""

from __future__ import annotations

from typing import Any

from app.clinical.fhir_inputs import ANSWERS, BOOLEANS, INTEGERS, OWN_SYSTEM, QUANTITIES
from model.features import FEATURE_NAMES, FEATURES

CODE_SYSTEM_ID = "heart-disease-features"
ANSWER_DISPLAYS = {
    "typical-angina": "Typical angina",
    "atypical-angina": "Atypical angina",
    "non-anginal-pain": "Non-anginal pain",
    "asymptomatic": "Asymptomatic",
    "normal": "Normal",
    "st-t-abnormality": "ST-T wave abnormality",
    "lv-hypertrophy": "Left ventricular hypertrophy",
    "upsloping": "Upsloping",
    "flat": "Flat",
    "downsloping": "Downsloping",
    "fixed-defect": "Fixed defect",
    "reversible-defect": "Reversible defect",
}


def own_inputs() -> list[str]:
    """The inputs named by a code of OWN_SYSTEM, in FEATURE_NAMES order."""
    own = {f for f, codes in QUANTITIES.items() if codes[0][0] == OWN_SYSTEM}
    own |= set(ANSWERS) | set(BOOLEANS) | set(INTEGERS)
    return [name for name in FEATURE_NAMES if name in own]


def code_system(version: str) -> dict[str, Any]:
    """The CodeSystem resource (as JSON), `version` being the service's."""
    concepts: list[dict[str, Any]] = [
        {"code": name, "display": FEATURES[FEATURE_NAMES.index(name)].description}
        for name in own_inputs()
    ]
    answered_by: dict[str, list[str]] = {}
    for field, answers in ANSWERS.items():
        for answer in answers:
            answered_by.setdefault(answer, []).append(field)
    for answer, fields in answered_by.items():
        concepts.append(
            {
                "code": answer,
                "display": ANSWER_DISPLAYS[answer],
                "property": [{"code": "answer-to", "valueCode": f} for f in fields],
            }
        )
    return {
        "resourceType": "CodeSystem",
        "id": CODE_SYSTEM_ID,
        "url": OWN_SYSTEM,
        "version": version,
        "name": "HeartDiseaseFeatures",
        "title": "Heart-disease risk service: inputs and answers",
        "status": "active",
        "experimental": True,
        "description": (
            "Codes for the exercise-test, fluoroscopy and thallium results and the "
            "chest-pain category the heart-disease risk model takes, for which no "
            "LOINC or SNOMED CT code names the value in this form; and the answer "
            "codes of the coded inputs."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "property": [
            {
                "code": "answer-to",
                "description": "The input (a code of this system) this concept answers.",
                "type": "code",
            }
        ],
        "concept": concepts,
    }
