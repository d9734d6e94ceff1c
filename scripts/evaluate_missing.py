"""Measurements missing, simulated in cross-validation on heart.dat alone:
how each way of answering without them scores, pattern by pattern.

In every split the training folds alone give the scaler, the network (its
defaults), a logistic regression, the medians and modes, and the donors of
`model.missing`; the test fold's patients then lose the features of a
pattern and are answered by each candidate:

- median/mode filling (numeric features take the training median, coded
  ones the training mode), for the network and the logistic regression;
- the donors' expectation (`model.missing`) at each bandwidth in
  BANDWIDTHS (inf: every training patient alike, the marginal expectation),
  for the network and the logistic regression.

`model.missing.BANDWIDTH` is the bandwidth whose network has the lowest log
loss averaged over the patterns. Called by `scripts/evaluate.py`
(`--missing-repeats`); the external cohorts are never used here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from model.evaluation import EVALUATION_SEED
from model.features import FEATURE_NAMES, FEATURES
from model.missing import BANDWIDTH, Donors, completed, donor_weights
from model.network import NeuralNet
from model.recalibration import calibration_intercept_slope

EXERCISE_TEST = ("max_heart_rate", "exercise_induced_angina", "st_depression", "st_slope")
KEPT_IN_THE_LAST = ("age", "sex", "chest_pain_type")
PATTERNS: dict[str, tuple[str, ...] | None] = {
    "nothing (reference)": (),
    "num_major_vessels": ("num_major_vessels",),
    "thal": ("thal",),
    "num_major_vessels, thal": ("num_major_vessels", "thal"),
    "st_slope, num_major_vessels, thal": ("st_slope", "num_major_vessels", "thal"),
    "serum_cholesterol": ("serum_cholesterol",),
    "the exercise test": EXERCISE_TEST,
    "all but age, sex, chest pain": tuple(f for f in FEATURE_NAMES if f not in KEPT_IN_THE_LAST),
    "30% at random": None,
}
"""Which features each simulated chart lacks (None: each feature of each
patient missing with probability RANDOM_SHARE, independently)."""

RANDOM_SHARE = 0.3
BANDWIDTHS = (0.125, 0.25, 0.5, 1.0, 2.0, math.inf)
FILL = "median/mode fill"
COLUMNS = ("roc_auc", "log_loss", "brier", "intercept", "slope")


def donor_name(h: float) -> str:
    return "donors, h = inf (marginal)" if math.isinf(h) else f"donors, h = {h:g}"


CANDIDATES = (FILL, *(donor_name(h) for h in BANDWIDTHS))


def fill_values(X_train: np.ndarray) -> np.ndarray:
    """The training median of each numeric feature, the mode of each coded one."""
    out = np.median(X_train, axis=0)
    for i, feature in enumerate(FEATURES):
        if feature.codes is not None:
            values, counts = np.unique(X_train[:, i], return_counts=True)
            out[i] = values[np.argmax(counts)]
    return out


def observed_masks(pattern: tuple[str, ...] | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 13) booleans: True where a feature is measured."""
    if pattern is None:
        return rng.random((n, len(FEATURE_NAMES))) >= RANDOM_SHARE
    missing = np.isin(FEATURE_NAMES, pattern)
    return np.tile(~missing, (n, 1))


def answer(
    predict: Any, donors: Donors, fill: np.ndarray, X: np.ndarray, observed: np.ndarray
) -> dict[str, np.ndarray]:
    """Each candidate's probabilities for the rows X with `observed` measured;
    `predict` maps raw rows (n, 13) to P(presence) (n,)."""
    out = {FILL: predict(np.where(observed, X, fill))}
    n_donors = len(donors.rows)
    stacked = np.vstack([completed(donors, x, o) for x, o in zip(X, observed, strict=True)])
    per_donor = predict(stacked).reshape(len(X), n_donors)
    for h in BANDWIDTHS:
        weights = np.array(
            [donor_weights(donors, x, o, h) for x, o in zip(X, observed, strict=True)]
        )
        out[donor_name(h)] = np.einsum("ij,ij->i", weights, per_donor)
    return out


def evaluate_missing(
    X: np.ndarray, y: np.ndarray, n_repeats: int = 2, show_progress: bool = True
) -> dict[str, Any]:
    """Out-of-fold probabilities for every (pattern, model, candidate), shape
    (n_repeats, n), and their metrics (mean over repeats)."""
    folds = RepeatedStratifiedKFold(n_splits=10, n_repeats=n_repeats, random_state=EVALUATION_SEED)
    n_splits = 10
    oof: dict[tuple[str, str, str], np.ndarray] = {}
    with tqdm(total=n_repeats * n_splits, desc="missing", disable=not show_progress) as bar:
        for k, (train, test) in enumerate(folds.split(X, y)):
            scaler = StandardScaler().fit(X[train])
            scaled = scaler.transform(X[train])
            models = {
                "NeuralNet": NeuralNet(random_state=0).fit(scaled, y[train]),
                "LogisticRegression": LogisticRegression().fit(scaled, y[train]),
            }
            donors = Donors.of(X[train], scaler.scale_)
            fill = fill_values(X[train])
            rng = np.random.default_rng(EVALUATION_SEED + k)
            for pattern_name, pattern in PATTERNS.items():
                observed = observed_masks(pattern, len(test), rng)
                for model_name, model in models.items():
                    predict = _raw_predictor(model, scaler)
                    for candidate, p in answer(predict, donors, fill, X[test], observed).items():
                        key = (pattern_name, model_name, candidate)
                        oof.setdefault(key, np.full((n_repeats, len(y)), np.nan))[
                            k // n_splits, test
                        ] = p
            bar.update(1)
    scores = {key: _scores(y, p) for key, p in oof.items()}
    return {"scores": scores, "chosen": chosen_bandwidth(scores), "n_repeats": n_repeats}


def _raw_predictor(model: Any, scaler: StandardScaler) -> Any:
    """P(presence) of raw rows, through the fold's scaler."""

    def predict(rows: np.ndarray) -> np.ndarray:
        return model.predict_proba(scaler.transform(rows))[:, 1]  # type: ignore[no-any-return]

    return predict


def _scores(y: np.ndarray, oof: np.ndarray) -> dict[str, float]:
    per_repeat = []
    for p in oof:
        intercept, slope = calibration_intercept_slope(y, p)
        per_repeat.append(
            {
                "roc_auc": roc_auc_score(y, p),
                "log_loss": log_loss(y, p, labels=[0, 1]),
                "brier": brier_score_loss(y, p),
                "intercept": intercept,
                "slope": slope,
            }
        )
    return {c: float(np.mean([r[c] for r in per_repeat])) for c in COLUMNS}


def chosen_bandwidth(scores: dict[tuple[str, str, str], dict[str, float]]) -> float:
    """The bandwidth whose network has the lowest log loss over the patterns
    with something missing."""
    patterns = [p for p, missing in PATTERNS.items() if missing != ()]

    def mean_loss(h: float) -> float:
        losses = [scores[(p, "NeuralNet", donor_name(h))]["log_loss"] for p in patterns]
        return float(np.mean(losses))

    return min(BANDWIDTHS, key=mean_loss)


def report_lines(run: dict[str, Any]) -> list[str]:
    scores, chosen = run["scores"], run["chosen"]
    lines = [
        "## Measurements missing, simulated",
        "",
        f"{run['n_repeats']} x repeated stratified 10-fold (the folds above). In every split "
        "the training folds alone give the scaler, the models, the medians and modes and the "
        "donors; the test patients then lose the features of each pattern "
        f"(`scripts/evaluate_missing.py`, `model/missing.py`). Chosen: **{donor_name(chosen)}** "
        "(lowest log loss of the network, averaged over the patterns). Calibration: the "
        "intercept of y ~ a + logit(p) (0 is right on average) and the slope of "
        "y ~ c + b logit(p) (1 is neither too extreme nor too timid).",
        "",
    ]
    beaten = []
    for pattern in PATTERNS:
        lines += [
            f"**Missing: {pattern}**",
            "",
            "| model | answer | ROC AUC | log loss | Brier | cal. intercept | cal. slope |",
            "|---|---|---|---|---|---|---|",
        ]
        for model, label in (("NeuralNet", "network"), ("LogisticRegression", "logistic")):
            for candidate in CANDIDATES:
                s = scores[(pattern, model, candidate)]
                mark = "**" if model == "NeuralNet" and candidate == donor_name(chosen) else ""
                cells = [f"{mark}{s[c]:.3f}{mark}" for c in COLUMNS]
                lines.append(f"| {label} | {candidate} | " + " | ".join(cells) + " |")
        served = scores[(pattern, "NeuralNet", donor_name(chosen))]["log_loss"]
        filled = scores[(pattern, "NeuralNet", FILL)]["log_loss"]
        beaten.append(served < filled or PATTERNS[pattern] == ())
        lines.append("")
    verdict = "beats" if all(beaten) else "does NOT beat"
    lines += [
        f"The chosen answer {verdict} median/mode filling on the log loss of every pattern "
        "(equal when nothing is missing, where both are the network's own answer).",
        "",
    ]
    if chosen != BANDWIDTH:
        lines += [f"**The service uses h = {BANDWIDTH:g} (`model.missing.BANDWIDTH`), not this.**"]
    return lines
