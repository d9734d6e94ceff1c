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
alone (training's `model.propagation.forward`). Figures:
docs/performance.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from model.artifact import Artifact, ArtifactError
from model.ensemble import LEVEL, WideNetwork, percentile_interval
from model.explain import ShapleyExplainer
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES, FEATURES
from model.missing import Donors, MissingRange, MissingValues
from model.propagation import Params, forward
from model.recalibration import Recalibration
from model.typicality import MISSING_INPUT, Checks, PatientWarning, whitening

SELF_TEST_TOLERANCE = 1e-9

Rows = Sequence[Sequence[float | None]] | np.ndarray
"""Raw rows in FEATURE_NAMES order; None (NaN in an array) for a feature not measured."""


class Assessment(NamedTuple):
    """One patient's answer: probability, interval, warnings; with features
    not measured, what measuring each could do (`model.missing`)."""

    probability: float  # the served network's P(presence) (its expectation, with some missing)
    low: float  # the ensemble's 5th percentile (over the donors too, with some missing)
    high: float  # the ensemble's 95th percentile
    warnings: tuple[PatientWarning, ...]
    missing: tuple[MissingRange, ...] = ()


class Explanation(NamedTuple):
    assessment: Assessment
    base_value: float  # mean probability over the background (and donors, with some missing)
    contributions: list[float]  # FEATURE_NAMES order (0 if not measured); base + sum = probability


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
        self._wide = WideNetwork([self.weights, *members], whitening(artifact.reference))
        self._checks = Checks(artifact.reference)
        self._explainer = ShapleyExplainer.for_network(self.weights, artifact.background)
        self._missing = MissingValues(
            lambda rows: self._wide.forward(rows)[0],
            self._network,
            Donors.of(artifact.donors, scale),
            [f.codes is not None for f in FEATURES],
            LEVEL,
        )
        self.artifact = artifact
        self.metadata: dict[str, Any] = artifact.metadata
        self.version = str(artifact.metadata.get("model_version", "unknown"))
        try:
            self.recalibration = Recalibration.of(artifact.metadata)
        except ValueError as exc:
            raise ArtifactError(f"{artifact.path}: malformed artifact: {exc}") from None

    def probabilities(self, rows: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
        """P(presence) from the served network alone (recalibrated, if the
        artifact says so), for each complete row."""
        p = self._network(np.asarray(rows, dtype=np.float64))
        r = self.recalibration
        return (r.many(p) if r else p).tolist()  # type: ignore[no-any-return]

    def _network(self, X: np.ndarray) -> np.ndarray:
        """The served network's probabilities (n,) for raw rows X (n, 13):
        training's forward pass, on the weights with the scaler folded in."""
        return forward(self.weights, X)[0][:, 0]

    def assess(self, rows: Rows) -> list[Assessment]:
        """Probability, interval and warnings for each row, in order.

        One matrix product scores the served network, the ensemble and the
        whitening that gives the Mahalanobis distance (`model.ensemble`).
        For a single row the rest runs in plain Python, which is cheaper than
        NumPy's per-call cost there; for several, in NumPy. A row with None
        (NaN in an array) where a feature was not measured is answered by
        `model.missing`; a row without is answered exactly as before.
        """
        if len(rows) == 1:
            if has_missing(rows[0]):
                return self._partials(np.array(rows, dtype=np.float64))
            row = [float(v) for v in rows[0]]  # type: ignore[arg-type]  # no None: checked above
            (served, *members), whitened_one = self._wide.forward(row)
            low, high = percentile_interval(members)
            if self.recalibration:
                served, low, high = map(self.recalibration.one, (served, low, high))
            distance = math.sqrt(math.fsum(u * u for u in whitened_one))
            return [Assessment(served, low, high, self._checks.warnings(row, distance))]
        X = np.asarray(rows, dtype=np.float64)  # (n, 13), None -> NaN
        partial = np.asarray(np.isnan(X).any(axis=1))
        if partial.any():
            return self._assess_mixed(X, partial)
        probabilities, whitened = self._wide.forward(X)  # (n, 1 + m), (n, 13)
        lows, highs = percentile_interval(probabilities[:, 1:])
        if self.recalibration:
            probabilities[:, 0] = self.recalibration.many(probabilities[:, 0])
            lows, highs = self.recalibration.many(lows), self.recalibration.many(highs)
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

    def _assess_mixed(self, X: np.ndarray, partial: np.ndarray) -> list[Assessment]:
        """Rows with and without missing values, each answered by its own path."""
        out: list[Assessment | None] = [None] * len(X)
        complete = np.flatnonzero(~partial)
        if len(complete):
            for i, a in zip(complete.tolist(), self.assess(X[complete]), strict=True):
                out[i] = a
        missing = np.flatnonzero(partial)
        for i, a in zip(missing.tolist(), self._partials(X[missing]), strict=True):
            out[i] = a
        return out  # type: ignore[return-value]

    def _partials(self, X: np.ndarray) -> list[Assessment]:
        """Rows with NaN where a feature was not measured: the expectation
        over its plausible values, the interval over them too, the range each
        could move the answer to, and a `missing_input` warning for each."""
        out = []
        for x, answer in zip(X, self._missing.answers(X), strict=True):
            if self.recalibration:
                g = self.recalibration.one
                answer = answer._replace(
                    probability=g(answer.probability), low=g(answer.low), high=g(answer.high),
                    ranges=tuple(r._replace(low=g(r.low), high=g(r.high)) for r in answer.ranges),
                )  # fmt: skip
            warnings = [*self._checks.warnings(x.tolist(), 0.0)]  # NaN is never out of range
            warnings += [_missing_warning(r) for r in answer.ranges]
            out.append(
                Assessment(
                    answer.probability, answer.low, answer.high, tuple(warnings), answer.ranges
                )
            )
        return out

    def explain(self, rows: Rows) -> list[Explanation]:
        """`assess` plus exact Shapley contributions, for each row (each
        takes milliseconds: call it off the event loop)."""
        X = np.asarray(rows, dtype=np.float64)  # None -> NaN
        transform = self.recalibration.many if self.recalibration else None
        out = []
        for assessment, x in zip(self.assess(rows), X, strict=True):
            if assessment.missing:  # over the measured features only (`model.explain`)
                donors, weights = self._missing.weighted_donors(x)
                base, contributions = self._explainer.explain_measured(
                    x, ~np.isnan(x), donors, weights, transform
                )
            else:
                base, contributions = self._explainer.explain(x, transform)
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


def has_missing(row: Sequence[float | None]) -> bool:
    """Whether a row holds None or NaN (its sum raises or is NaN)."""
    try:
        total = sum(row)  # type: ignore[arg-type]
    except TypeError:
        return True
    return bool(total != total)


def _missing_warning(r: MissingRange) -> PatientWarning:
    name = FEATURE_NAMES[r.field]
    return PatientWarning(
        MISSING_INPUT,
        name,
        f"{name} was not measured: the probability averages over the values it takes in "
        f"training patients like this one; measuring it could move the probability to "
        f"between {r.low:.2f} and {r.high:.2f}.",
    )
