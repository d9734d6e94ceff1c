"""The serving path: answers from a loaded artifact, NumPy only.

The StandardScaler is folded into every network's first layer once, at
load time:

    ((x - mean) / scale) @ W1 + b1  ==  x @ (W1 / scale[:, None]) + (b1 - (mean / scale) @ W1)

so that a request costs small matrix products and nothing else.

`Predictor.assess(rows)` is what the routes call: for each patient the
served network's probability, the bootstrap ensemble's 90% interval and the
typicality warnings, all from one wide matrix product (`model.ensemble`).
`Predictor.explain(rows)` adds exact Shapley contributions
(`model.explain`). `Predictor.probabilities(rows)` is the served network
alone (`model.propagation.forward`, with in-place updates). Figures:
docs/performance.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from model.activations import sigmoid
from model.artifact import Artifact
from model.ensemble import WideNetwork, percentile_interval, percentile_interval_one
from model.explain import ShapleyExplainer
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.propagation import Params
from model.typicality import Checks, PatientWarning, whitening

SELF_TEST_TOLERANCE = 1e-9


class Assessment(NamedTuple):
    """One patient's answer: probability, interval, warnings."""

    probability: float  # the served network's P(presence)
    low: float  # the ensemble's 5th percentile
    high: float  # the ensemble's 95th percentile
    warnings: tuple[PatientWarning, ...]


class Explanation(NamedTuple):
    assessment: Assessment
    base_value: float  # mean probability over the background
    contributions: list[float]  # FEATURE_NAMES order; base_value + sum = probability


def fold_scaler(weights: Params, mean: np.ndarray, scale: np.ndarray) -> Params:
    """The same network on raw rows: the scaler folded into its first layer."""
    inv_scale = 1.0 / scale  # (13,)
    return {
        "W1": weights["W1"] * inv_scale[:, None],  # (13, h)
        "b1": weights["b1"] - (mean * inv_scale) @ weights["W1"],  # (h,)
        "W2": weights["W2"],  # (h, 1)
        "b2": weights["b2"],  # (1,)
    }


class Predictor:
    """Answers about raw (unscaled) feature rows, FEATURE_NAMES order."""

    def __init__(self, artifact: Artifact) -> None:
        mean, scale = artifact.scaler_mean, artifact.scaler_scale
        self.weights = fold_scaler(artifact.weights, mean, scale)
        members = [fold_scaler(m, mean, scale) for m in artifact.members]
        self._W1, self._b1 = self.weights["W1"], self.weights["b1"]
        self._w2, self._b2 = self.weights["W2"][:, 0], float(self.weights["b2"][0])
        self._wide = WideNetwork([self.weights, *members], whitening(artifact.reference))
        self._checks = Checks(artifact.reference)
        self._explainer = ShapleyExplainer.for_network(self.weights, artifact.background)
        self.ensemble_size = len(members)
        self.background_size = len(artifact.background)
        self.warning_threshold = artifact.reference.threshold
        self.artifact = artifact
        self.metadata: dict[str, Any] = artifact.metadata
        self.version = str(artifact.metadata.get("model_version", "unknown"))

    def probabilities(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
        """P(presence) from the served network alone, for each row."""
        X = np.asarray(rows, dtype=np.float64)
        h = X @ self._W1  # (n, h)
        h += self._b1
        np.maximum(h, 0.0, out=h)  # ReLU
        z = h @ self._w2  # (n,)
        z += self._b2
        return sigmoid(z).tolist()  # type: ignore[no-any-return]

    def assess(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[Assessment]:
        """Probability, interval and warnings for each row, in order.

        One matrix product scores the served network, the ensemble and the
        whitening that gives the Mahalanobis distance (`model.ensemble`).
        For a single row the rest runs in plain Python, which is cheaper than
        NumPy's per-call cost there; for several, in NumPy.
        """
        if len(rows) == 1:
            row = [float(v) for v in rows[0]]
            (served, *members), whitened_one = self._wide.forward_one(row)
            low, high = percentile_interval_one(members)
            distance = math.sqrt(math.fsum(u * u for u in whitened_one))
            return [Assessment(served, low, high, self._checks.warnings(row, distance))]
        X = np.asarray(rows, dtype=np.float64)  # (n, 13)
        probabilities, whitened = self._wide.forward(X)  # (n, 1 + m), (n, 13)
        lows, highs = percentile_interval(probabilities[:, 1:])
        distances = np.sqrt(np.einsum("ij,ij->i", whitened, whitened))
        warnings = self._checks.warnings_many(X, distances)
        return list(
            map(
                Assessment,
                probabilities[:, 0].tolist(),
                lows.tolist(),
                highs.tolist(),
                warnings,
            )
        )

    def explain(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[Explanation]:
        """`assess` plus exact Shapley contributions, for each row (each
        takes milliseconds: call it off the event loop)."""
        X = np.asarray(rows, dtype=np.float64)
        out = []
        for assessment, x in zip(self.assess(rows), X, strict=True):
            base, contributions = self._explainer.explain(x)
            out.append(Explanation(assessment, base, contributions.tolist()))
        return out

    def self_test(self) -> str | None:
        """Compare the example patient's probability and interval with those
        recorded at training time, on every path. Return None when they
        agree, else what went wrong."""
        recorded = self.metadata.get("self_test", {})
        probability, interval = recorded.get("probability"), recorded.get("interval")
        if not isinstance(probability, float) or not isinstance(interval, list):
            return "the artifact records no self-test probability and interval"
        row = [float(EXAMPLE_PATIENT[name]) for name in FEATURE_NAMES]
        one, _ = self.assess([row, row])
        (alone,) = self.assess([row])
        checks = [
            ("served network", self.probabilities([row])[0], probability),
            ("one row", alone.probability, probability),
            ("several rows", one.probability, probability),
            ("interval low", alone.low, interval[0]),
            ("interval high", alone.high, interval[1]),
            ("interval of several rows", one.high, interval[1]),
        ]
        for path, got, expected in checks:
            if abs(got - expected) > SELF_TEST_TOLERANCE:
                return f"self-test {path} {got!r} differs from the recorded {expected!r}"
        return None
