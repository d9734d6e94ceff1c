"""The serving path: predictions from a loaded artifact, NumPy only.

The StandardScaler is folded into the first layer once, at load time:

    ((x - mean) / scale) @ W1 + b1  ==  x @ (W1 / scale[:, None]) + (b1 - (mean / scale) @ W1)

so that a request costs two small matrix products and nothing else.

`Predictor.probabilities(rows)` is the whole interface, and it chooses how
to compute. Several rows go through NumPy (`model.propagation.forward`,
written with in-place updates). One row is computed in plain Python floats:
on a server's request path each NumPy call has a fixed cost larger than
13 x 8 multiply-adds in Python (figures in docs/performance.md). The two
paths agree to 1e-12 (tests/model/test_serving.py) but not to the last bit:
the sums run in another order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import mul
from typing import Any

import numpy as np

from model.activations import sigmoid
from model.artifact import Artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES

SELF_TEST_TOLERANCE = 1e-9


class Predictor:
    """Probabilities of heart disease from raw (unscaled) feature rows.

    `probabilities(rows)` is the one way to score patients; it picks the
    fastest path for the number of rows (see the module docstring).
    """

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
        # For _one: per hidden unit, its input weights, bias and output weight.
        self._units = list(
            zip(self._W1.T.tolist(), self._b1.tolist(), self._w2.tolist(), strict=True)
        )
        self.artifact = artifact
        self.metadata: dict[str, Any] = artifact.metadata
        self.version = str(artifact.metadata.get("model_version", "unknown"))

    def probabilities(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
        """P(presence) for each row of 13 raw values (FEATURE_NAMES order), in order."""
        if len(rows) == 1:
            return [self._one(rows[0])]
        return self._many(np.asarray(rows, dtype=np.float64)).tolist()

    def _many(self, X: np.ndarray) -> np.ndarray:
        """P(presence) for each row of X (n, 13): `model.propagation.forward`
        with the intermediate arrays reused in place."""
        h = X @ self._W1  # (n, h)
        h += self._b1
        np.maximum(h, 0.0, out=h)  # ReLU
        z = h @ self._w2  # (n,)
        z += self._b2
        return sigmoid(z)

    def _one(self, x: Iterable[float]) -> float:
        """P(presence) for one row, in plain Python floats."""
        x = tuple(x)
        z = self._b2
        for weights, bias, out_weight in self._units:
            h = bias + sum(map(mul, x, weights))
            if h > 0.0:  # ReLU
                z += h * out_weight
        # sigmoid, without overflow: exp is only taken of a non-positive number
        if z >= 0.0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def self_test(self) -> str | None:
        """Compare the example patient's probability with the one recorded at
        training time. Return None when they agree, else what went wrong."""
        recorded = self.metadata.get("self_test", {}).get("probability")
        if not isinstance(recorded, float):
            return "the artifact records no self-test probability"
        row = [float(EXAMPLE_PATIENT[name]) for name in FEATURE_NAMES]
        for path, got in (
            ("one row, plain Python", self.probabilities([row])[0]),
            ("several rows, NumPy", self.probabilities([row, row])[0]),
        ):
            if abs(got - recorded) > SELF_TEST_TOLERANCE:
                return (
                    f"self-test probability {got!r} ({path}) differs from the recorded {recorded!r}"
                )
        return None
