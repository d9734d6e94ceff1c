"""The 13 input features: names, order, units, codes and plausible ranges.

This table is the single source of truth for the columns. The data loader
reads `heart.dat` with these names, the training script stores them in the
artifact, the artifact loader checks them, and the API builds its request
schema from them. No list of columns is typed anywhere else.

Ranges are *clinically plausible* bounds for an adult patient, deliberately
wider than the training data (the last column of the table in
`data/README.md` gives what the file actually contains). A value outside them
is far more likely a unit mistake or a typo than a real patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal


@dataclass(frozen=True)
class Feature:
    """One input column.

    A feature is either *coded* (`codes` maps each allowed integer to its
    meaning) or *numeric* (`minimum`..`maximum`, inclusive). `integer` says
    whether a numeric feature must be a whole number (a count).
    """

    name: str
    description: str
    example: float
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    codes: dict[int, str] | None = None

    @cached_property
    def whole(self) -> bool:
        """Whether a value must be a whole number (a code or a count)."""
        return self.codes is not None or self.integer

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """The lowest and highest value accepted (the codes' ends, for a coded one)."""
        if self.codes is not None:
            return float(min(self.codes)), float(max(self.codes))
        return float(self.minimum), float(self.maximum)  # type: ignore[arg-type]

    @cached_property
    def gaps(self) -> bool:
        """Whether a coded feature's codes leave gaps (3, 6, 7), so that its
        bounds alone do not say which values it takes."""
        low, high = self.bounds
        return self.codes is not None and len(self.codes) != high - low + 1

    def accepts(self, value: float) -> bool:
        """Whether the API would take `value` (a number) for this feature: one
        of its codes, or a number in its range (whole, for a count). The one
        statement of a field's rules; every reader derives its checks from it
        and from the properties above."""
        low, high = self.bounds
        if not low <= value <= high:  # NaN too
            return False
        if self.whole and not float(value).is_integer():
            return False
        return not self.gaps or value in self.codes  # type: ignore[operator]


FEATURES: tuple[Feature, ...] = (
    Feature("age", "Age", 54, unit="years", minimum=18, maximum=120),
    Feature("sex", "Sex", 1, codes={0: "female", 1: "male"}),
    Feature(
        "chest_pain_type",
        "Chest pain type",
        4,
        codes={
            1: "typical angina",
            2: "atypical angina",
            3: "non-anginal pain",
            4: "asymptomatic",
        },
    ),
    Feature(
        "resting_blood_pressure",
        "Resting blood pressure",
        130,
        unit="mm Hg",
        minimum=50,
        maximum=250,
    ),
    Feature(
        "serum_cholesterol",
        "Serum cholesterol",
        245,
        unit="mg/dl",
        minimum=50,
        maximum=1000,
    ),
    Feature(
        "fasting_blood_sugar",
        "Fasting blood sugar above 120 mg/dl",
        0,
        codes={0: "no", 1: "yes"},
    ),
    Feature(
        "resting_ecg",
        "Resting electrocardiographic result",
        2,
        codes={
            0: "normal",
            1: "ST-T wave abnormality",
            2: "left ventricular hypertrophy",
        },
    ),
    Feature(
        "max_heart_rate",
        "Maximum heart rate achieved",
        150,
        unit="beats per minute",
        minimum=40,
        maximum=250,
    ),
    Feature(
        "exercise_induced_angina",
        "Exercise-induced angina",
        0,
        codes={0: "no", 1: "yes"},
    ),
    Feature(
        "st_depression",
        "ST depression induced by exercise relative to rest (oldpeak)",
        1.0,
        unit="mm",
        minimum=0,
        maximum=10,
    ),
    Feature(
        "st_slope",
        "Slope of the peak exercise ST segment",
        2,
        codes={1: "upsloping", 2: "flat", 3: "downsloping"},
    ),
    Feature(
        "num_major_vessels",
        "Number of major vessels coloured by fluoroscopy",
        0,
        unit="vessels",
        minimum=0,
        maximum=3,
        integer=True,
    ),
    Feature(
        "thal",
        "Thallium stress test result",
        3,
        codes={3: "normal", 6: "fixed defect", 7: "reversible defect"},
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)

TARGET = "target"
"""Name of the label column: 0 = absence, 1 = presence of heart disease."""

THRESHOLD = 0.5
"""A patient is classed as presence (1) when P(presence) >= THRESHOLD: the one
threshold of training, evaluation and serving."""

CLASS_LABELS: tuple[Literal["absence"], Literal["presence"]] = ("absence", "presence")
"""Human-readable label of class 0 and class 1."""

EXAMPLE_PATIENT: dict[str, Any] = {f.name: f.example for f in FEATURES}
"""A made-up, typical patient (not a record from the data set).

It is the documented API example, and the artifact records the model's
probability for it at training time so that the service can check at
start-up that it computes the same number (the readiness self-test).
"""
