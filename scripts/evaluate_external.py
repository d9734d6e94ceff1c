"""Other hospitals' patients, measured once: the served recipe against the
Hungarian and Swiss cohorts (`data/external`), which nothing was chosen on.

The served recipe is trained as `make train` trains it (heart.dat's 80/20
split, `scripts.train.train`), and answers each patient as the service
would: with the fields not measured null (`model.missing`). Beside it, the
same network given median/mode fill-ins, and a logistic regression trained
on the same rows, given the donors' expectation and the fill-ins. Figures:
n, prevalence, ROC AUC, Brier, log loss, calibration intercept and slope,
and accuracy, sensitivity and specificity at 0.5; the published anchor
(Detrano 1989) beside them; one calibration plot per cohort.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from model.artifact import load_artifact
from model.data import load_external, load_heart
from model.features import THRESHOLD
from model.missing import BANDWIDTH, Donors
from model.recalibration import Recalibration, calibration_intercept_slope
from model.serving import Predictor
from scripts.evaluate_missing import FILL, answer, donor_name, fill_values
from scripts.train import SPLIT_SEED, TEST_SIZE, train

COHORTS = {
    "Hungarian": ("processed.hungarian.data", 0.77),
    "Swiss": ("processed.switzerland.data", 0.81),
}
"""Each cohort's file and the published accuracy at 0.5 (Detrano 1989)."""
SERVED = "served: network, missing fields null"
ANSWERS = (
    SERVED,
    "network, median/mode fill",
    "logistic regression, donors",
    "logistic regression, median/mode fill",
)
COLUMNS = ("roc_auc", "brier", "log_loss", "intercept", "slope", "accuracy", "sensitivity",
           "specificity")  # fmt: skip


def evaluate_external(data: Path, external: Path) -> dict[str, Any]:
    """Every answer's probabilities and figures for each cohort."""
    with tempfile.TemporaryDirectory() as tmp:
        artifact_path = Path(tmp) / "model.pkl"
        train(data, artifact_path, cv_repeats=0)
        artifact = load_artifact(artifact_path)
    predictor = Predictor(artifact)
    X_train = artifact.donors  # the training rows of the served recipe
    y_train = _training_labels(data, X_train)
    scaler = StandardScaler().fit(X_train)
    logistic = LogisticRegression().fit(scaler.transform(X_train), y_train)
    donors = Donors.of(X_train, artifact.scaler_scale)
    fill = fill_values(X_train)

    def network(rows: np.ndarray) -> np.ndarray:
        return np.array([a.probability for a in predictor.assess(rows)])

    def regression(rows: np.ndarray) -> np.ndarray:
        return logistic.predict_proba(scaler.transform(rows))[:, 1]  # type: ignore[no-any-return]

    out: dict[str, Any] = {"version": predictor.version, "cohorts": {}}
    for cohort, (file, anchor) in COHORTS.items():
        X, y, made_null = load_external(external / file)
        logistic_answers = answer(regression, donors, fill, X, ~np.isnan(X))
        answers = {
            ANSWERS[0]: network(X),
            ANSWERS[1]: network(np.where(np.isnan(X), fill, X)),
            ANSWERS[2]: logistic_answers[donor_name(BANDWIDTH)],
            ANSWERS[3]: logistic_answers[FILL],
        }
        out["cohorts"][cohort] = {
            "halves": recalibrated_halves(answers[SERVED], y),
            "n": len(y),
            "prevalence": float(y.mean()),
            "anchor": anchor,
            "y": y,
            "probabilities": answers,
            "figures": {name: figures(y, p) for name, p in answers.items()},
            "made_null": made_null,
        }
    return out


def recalibrated_halves(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Recalibrate the served answers `p` on one half of a cohort
    (stratified, seed 0), measure on the other: Brier and calibration
    before and after."""
    fit_rows, test_rows = train_test_split(
        np.arange(len(y)), test_size=0.5, stratify=y, random_state=0
    )
    g = Recalibration.fit(y[fit_rows], p[fit_rows])
    before, after = p[test_rows], g.many(p[test_rows])
    return {
        "n_fit": len(fit_rows),
        "n_test": len(test_rows),
        "intercept": g.intercept,
        "slope": g.slope,
        "before": figures(y[test_rows], before),
        "after": figures(y[test_rows], after),
    }


def _training_labels(data: Path, X_train: np.ndarray) -> np.ndarray:
    """The labels of the served recipe's training rows (its 80/20 split)."""
    X, y = load_heart(data)
    rows, _, labels, _ = train_test_split(
        X.to_numpy(), y, test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    assert np.array_equal(rows, X_train), "the artifact's donors are the training rows"
    return labels  # type: ignore[no-any-return]


def figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    intercept, slope = calibration_intercept_slope(y, p)
    predicted = p >= THRESHOLD
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "intercept": intercept,
        "slope": slope,
        "accuracy": float(np.mean(predicted == y)),
        "sensitivity": float(np.mean(predicted[y == 1])),
        "specificity": float(np.mean(~predicted[y == 0])),
    }


def report_lines(run: dict[str, Any], plots: dict[str, str]) -> list[str]:
    lines = [
        "## Other hospitals (external validation)",
        "",
        f"The served recipe (model {run['version']}, trained on heart.dat's 80/20 split) "
        "answered every patient of two other hospitals once, with the fields their charts "
        "lack sent as null (`scripts/evaluate_external.py`; the cohorts, their missing "
        "values and their hidden zeros: `data/external/README.md`). Nothing was chosen or "
        "tuned on them. Accuracy, sensitivity and specificity at 0.5.",
        "",
        "| cohort | answer | n | prevalence | ROC AUC | Brier | log loss | cal. intercept "
        "| cal. slope | accuracy | sensitivity | specificity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cohort, c in run["cohorts"].items():
        for name in ANSWERS:
            f = c["figures"][name]
            cells = " | ".join(f"{f[k]:.3f}" for k in COLUMNS)
            bold = "**" if name == SERVED else ""
            lines.append(
                f"| {cohort} | {bold}{name}{bold} | {c['n']} | {c['prevalence']:.3f} | {cells} |"
            )
        lines.append(
            f"| {cohort} | published anchor (Detrano 1989) | {c['n']} | {c['prevalence']:.3f} "
            f"| | | | | | {c['anchor']:.2f} | | |"
        )
    lines += [
        "",
        "**Site recalibration, measured on halves.** Each cohort split in two (stratified, "
        "seed 0): `python -m scripts.recalibrate`'s logistic recalibration fitted on one half "
        "(the served answers, missing fields null), the figures measured on the other.",
        "",
        "| cohort | fitted on | measured on | intercept, slope fitted | Brier before → after "
        "| cal. intercept before → after | cal. slope before → after | log loss before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cohort, c in run["cohorts"].items():
        h = c["halves"]
        b, a = h["before"], h["after"]
        lines.append(
            f"| {cohort} | {h['n_fit']} | {h['n_test']} | {h['intercept']:.2f}, {h['slope']:.2f} "
            f"| {b['brier']:.3f} → {a['brier']:.3f} | {b['intercept']:.2f} → {a['intercept']:.2f} "
            f"| {b['slope']:.2f} → {a['slope']:.2f} | {b['log_loss']:.3f} → {a['log_loss']:.3f} |"
        )
    lines.append("")
    lines += [f"![Calibration, {cohort}]({png})" for cohort, png in plots.items()]
    return [*lines, ""]


def plot_calibration(cohort: dict[str, Any], title: str, path: Path, pyplot: Any) -> None:
    """Observed share of presence against the mean predicted probability, in
    deciles of the served answer's probability, for each answer."""
    fig, ax = pyplot.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    y = cohort["y"]
    for name in ANSWERS:
        p = cohort["probabilities"][name]
        groups = np.array_split(np.argsort(p, kind="stable"), 10)
        ax.plot([p[g].mean() for g in groups], [y[g].mean() for g in groups], marker="o",
                label=name)  # fmt: skip
    ax.set_xlabel("mean predicted probability (deciles)")
    ax.set_ylabel("observed share with heart disease")
    ax.set_title(f"{title}: n = {cohort['n']}, prevalence {cohort['prevalence']:.0%}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
