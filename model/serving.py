"""The serving path: predictions from a loaded artifact, NumPy only.

The StandardScaler is folded into the first layer once, at load time:

    ((x - mean) / scale) @ W1 + b1  ==  x @ (W1 / scale[:, None]) + (b1 - (mean / scale) @ W1)

so that a request costs two small matrix products and nothing else.
`predict_proba` computes exactly `model.maths.forward` (tests/model holds
them equal), written with in-place updates because it runs per request.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model.artifact import Artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.functions import sigmoid

SELF_TEST_TOLERANCE = 1e-9
THRESHOLD = 0.5
"""A patient is classed as presence (1) when the probability is >= THRESHOLD."""


class Predictor:
    """Probabilities of heart disease from raw (unscaled) feature rows."""

    def __init__(self, artifact: Artifact) -> None:
        w = artifact.weights
        inv_scale = 1.0 / artifact.scaler_scale  # (13,)
        self.weights = {
            "W1": w["W1"] * inv_scale[:, None],  # (13, h)
            "b1": w["b1"] - (artifact.scaler_mean * inv_scale) @ w["W1"],  # (h,)
            "W2": w["W2"],  # (h, 1)
            "b2": w["b2"],  # (1,)
        }
        self._W1, self._b1 = self.weights["W1"], self.weights["b1"]
        self._w2, self._b2 = self.weights["W2"][:, 0], float(self.weights["b2"][0])
        self.artifact = artifact
        self.metadata: dict[str, Any] = artifact.metadata
        self.version = str(artifact.metadata.get("model_version", "unknown"))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(presence) for each row of X (n, 13), columns in FEATURE_NAMES order.

        The same computation as `model.maths.forward` (a test holds them
        equal), with the intermediate arrays reused in place: it runs once
        per request, where every allocation shows.
        """
        h = X @ self._W1  # (n, h)
        h += self._b1
        np.maximum(h, 0.0, out=h)  # ReLU
        z = h @ self._w2  # (n,)
        z += self._b2
        return sigmoid(z)

    def self_test(self) -> str | None:
        """Compare the example patient's probability with the one recorded at
        training time. Return None when they agree, else what went wrong."""
        recorded = self.metadata.get("self_test", {}).get("probability")
        if not isinstance(recorded, float):
            return "the artifact records no self-test probability"
        x = np.array([[EXAMPLE_PATIENT[name] for name in FEATURE_NAMES]], dtype=np.float64)
        got = float(self.predict_proba(x)[0])
        if abs(got - recorded) > SELF_TEST_TOLERANCE:
            return f"self-test probability {got!r} differs from the recorded {recorded!r}"
        return None
