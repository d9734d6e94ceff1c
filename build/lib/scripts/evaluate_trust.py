"""The trust signals, evaluated out-of-fold (part of `make evaluate`).

For every split of the repeated cross-validation (`--trust-repeats` x
stratified 10-fold, the evaluation's folds), on the training folds only:
a StandardScaler, the served network, its bootstrap ensemble, the Shapley
background and the typicality reference, exactly as `scripts.train` makes
them; then the held-out fold is assessed and explained as the service
would. Reported:

- how often the network's probability lies inside its interval, the mean
  width for correctly and wrongly classified patients, and the ROC AUC of
  the width as a predictor of a wrong class (0.5: the width says nothing);
- the ensemble mean's metrics beside the single network's;
- the share of held-out patients flagged `atypical_patient`;
- global importance: every patient's contributions (first repeat), as a
  picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from model.companions import (
    BACKGROUND_SIZE,
    ENSEMBLE_SIZE,
    draw_background,
    in_memory_predictor,
    train_members,
)
from model.evaluation import evaluation_folds, metrics
from model.features import FEATURE_NAMES, THRESHOLD
from model.network import NeuralNet
from model.propagation import forward
from model.typicality import fit_reference


def evaluate_trust(
    X: np.ndarray, y: np.ndarray, n_repeats: int, show_progress: bool
) -> dict[str, Any]:
    folds = evaluation_folds(n_repeats)
    n_splits = folds.get_n_splits() // n_repeats
    shape = (n_repeats, len(y))
    served, low, high, mean = (np.full(shape, np.nan) for _ in range(4))
    atypical = np.zeros(shape, dtype=bool)
    contributions = np.full((len(y), len(FEATURE_NAMES)), np.nan)
    splits = tqdm(folds.split(X, y), total=folds.get_n_splits(), disable=not show_progress)
    for i, (train, test) in enumerate(splits):
        repeat = i // n_splits
        predictor, scaled_members, scaler = _fit_fold(X[train], y[train], seed=i)
        answers = predictor.assess(X[test])
        served[repeat, test] = [a.probability for a in answers]
        low[repeat, test] = [a.low for a in answers]
        high[repeat, test] = [a.high for a in answers]
        atypical[repeat, test] = [
            any(w.code == "atypical_patient" for w in a.warnings) for a in answers
        ]
        scaled = scaler.transform(X[test])
        mean[repeat, test] = np.mean([forward(m, scaled)[0][:, 0] for m in scaled_members], axis=0)
        if repeat == 0:
            contributions[test] = [e.contributions for e in predictor.explain(X[test])]
    return {
        "served": served, "low": low, "high": high, "mean": mean, "atypical": atypical,
        "contributions": contributions, "y": y, "n_repeats": n_repeats,
    }  # fmt: skip


def _fit_fold(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, list[Any], StandardScaler]:
    scaler = StandardScaler().fit(X)
    net = NeuralNet(random_state=0).fit(scaler.transform(X), y)
    members = train_members(scaler.transform(X), y, net.get_params(), ENSEMBLE_SIZE, seed)
    background = draw_background(X, y, BACKGROUND_SIZE, seed)
    inner = StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)
    reference, _ = fit_reference(X, inner)
    predictor = in_memory_predictor(net.weights_, members, background, reference, scaler)
    return predictor, members, scaler


def summary(run: dict[str, Any]) -> dict[str, float]:
    y = np.broadcast_to(run["y"], run["served"].shape).ravel()
    p, lo, hi = run["served"].ravel(), run["low"].ravel(), run["high"].ravel()
    width = hi - lo
    wrong = (p >= THRESHOLD) != (y == 1)
    return {
        "coverage": float(np.mean((lo <= p) & (p <= hi))),
        "width_correct": float(np.mean(width[~wrong])),
        "width_wrong": float(np.mean(width[wrong])),
        "width_auc_for_wrong": float(roc_auc_score(wrong, width)),
        "atypical_share": float(np.mean(run["atypical"])),
        "wrong_share": float(np.mean(wrong)),
    }


def report_lines(run: dict[str, Any], importance_png: str) -> list[str]:
    s = summary(run)
    y = run["y"]
    per_repeat = {
        name: [metrics(y, run[key][r]) for r in range(run["n_repeats"])]
        for name, key in (("served network", "served"), ("ensemble mean", "mean"))
    }
    table = ["| model | accuracy | ROC AUC | log loss | Brier |", "|---|---|---|---|---|"]
    for name, rows in per_repeat.items():
        cells = [
            f"{np.mean([r[m] for r in rows]):.3f}"
            for m in ("accuracy", "roc_auc", "log_loss", "brier")
        ]
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    return [
        "## Trust signals, out-of-fold",
        "",
        f"{run['n_repeats']} x repeated stratified 10-fold (the folds above); in every split "
        f"the training folds alone give the scaler, the network, its {ENSEMBLE_SIZE} bootstrap "
        f"members, the {BACKGROUND_SIZE}-row Shapley background and the typicality reference "
        "(`python -m scripts.evaluate --trust-repeats N`; `scripts/evaluate_trust.py`).",
        "",
        "| signal | out-of-fold |",
        "|---|---|",
        f"| served probability inside its 90% interval | {s['coverage']:.1%} |",
        f"| mean interval width, correctly classified | {s['width_correct']:.3f} |",
        f"| mean interval width, wrongly classified ({s['wrong_share']:.1%} of answers) | "
        f"{s['width_wrong']:.3f} |",
        "| ROC AUC of the width as a predictor of a wrong class | "
        f"{s['width_auc_for_wrong']:.3f} |",
        f"| held-out patients flagged `atypical_patient` | {s['atypical_share']:.1%} |",
        "",
        "Mean over the repeats of each repeat's out-of-fold metrics:",
        "",
        *table,
        "",
        "Global importance: each patient's exact Shapley contributions, out-of-fold (first "
        "repeat), one dot per patient and feature; features by mean absolute contribution.",
        "",
        f"![Global importance]({importance_png})",
        "",
    ]


def plot_importance(run: dict[str, Any], path: Path, pyplot: Any) -> None:
    c = run["contributions"]
    order = np.argsort(np.mean(np.abs(c), axis=0))  # least important at the bottom
    fig, ax = pyplot.subplots(figsize=(7, 6))
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        ax.scatter(c[:, j], row + rng.uniform(-0.25, 0.25, len(c)), s=6, alpha=0.5)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(order)), [FEATURE_NAMES[j] for j in order])
    ax.set_xlabel("contribution to P(presence), out-of-fold")
    ax.set_title("Global importance (exact Shapley values)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
