"""A site's recalibration of the model's probabilities (`scripts.recalibrate`):

    p' = sigmoid(a + b logit(p)),

applied to the finished answer, whatever path made it (a complete patient,
an expectation over missing values, an interval end, a range of a missing
field, every coalition's value in an explanation): the intercept a and
slope b were fitted on those answers. It is increasing (b > 0 is checked),
so it keeps every order: intervals and ranges stay intervals. Recorded in
the artifact's metadata (`"recalibration"`), covered by its SHA-256.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np


class Recalibration(NamedTuple):
    intercept: float
    slope: float

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> Recalibration | None:
        """The artifact's recalibration, or None; ValueError if malformed."""
        record = metadata.get("recalibration")
        if record is None:
            return None
        a, b = record.get("intercept"), record.get("slope")
        if not all(type(v) is float and math.isfinite(v) for v in (a, b)) or b <= 0:
            raise ValueError("recalibration needs a finite intercept and a positive slope")
        return cls(a, b)

    def one(self, p: float) -> float:
        if p <= 0.0 or p >= 1.0:
            return p  # logit is infinite: 0 and 1 stay where they are (b > 0)
        z = self.intercept + self.slope * (math.log(p) - math.log1p(-p))
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def many(self, p: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            z = self.intercept + self.slope * (np.log(p) - np.log1p(-p))
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # type: ignore[no-any-return]
