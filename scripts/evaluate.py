"""Repeated cross-validation of NeuralNet against the baselines, with plots.

    python -m scripts.evaluate        (or `make evaluate`; a few minutes)

Every model sees the same folds: 5 x repeated stratified 10-fold
cross-validation (`model.evaluation.evaluation_folds`), each model behind a
StandardScaler fitted on the training folds only. Writes
`reports/evaluation.md` and, beside it, ROC curves, a calibration curve and
the training/validation loss curves as PNG files; then the trust signals
(interval, warnings, contributions) out-of-fold, `scripts/evaluate_trust.py`,
with a picture of global importance; answers with measurements missing,
simulated pattern by pattern, `scripts/evaluate_missing.py`; and, once, the
other hospitals' patients, `scripts/evaluate_external.py`.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from model.data import load_heart
from model.evaluation import (
    EVALUATION_SEED,
    METRICS,
    TUTORIAL_PARAMS,
    contenders,
    cross_validated,
    evaluation_folds,
    summarise,
)
from model.network import NeuralNet
from scripts import cli
from scripts.evaluate_external import evaluate_external
from scripts.evaluate_external import plot_calibration as plot_external_calibration
from scripts.evaluate_external import report_lines as external_report_lines
from scripts.evaluate_missing import evaluate_missing
from scripts.evaluate_missing import report_lines as missing_report_lines
from scripts.evaluate_trust import evaluate_trust, plot_importance, report_lines

log = logging.getLogger("scripts.evaluate")


def evaluate(
    data: Path,
    n_repeats: int = 5,
    show_progress: bool = True,
    trust_repeats: int = 2,
    missing_repeats: int = 5,
    external: Path | None = None,
) -> dict[str, Any]:
    X_frame, y = load_heart(data)
    X = X_frame.to_numpy()
    folds = evaluation_folds(n_repeats)
    models = contenders()
    results: dict[str, Any] = {}
    with tqdm(
        total=len(models) * folds.get_n_splits(), desc="fits", unit="fit", disable=not show_progress
    ) as bar:
        for name, pipe in models.items():
            per_fold, oof = cross_validated(pipe, X, y, folds, bar)
            results[name] = {"summary": summarise(per_fold), "oof": oof}
    trust = evaluate_trust(X, y, trust_repeats, show_progress) if trust_repeats else None
    missing = evaluate_missing(X, y, missing_repeats, show_progress) if missing_repeats else None
    other = evaluate_external(data, external) if external is not None else None
    return {
        "results": results,
        "X": X,
        "y": y,
        "n_repeats": n_repeats,
        "trust": trust,
        "missing": missing,
        "external": other,
    }


def markdown_table(results: dict[str, Any]) -> list[str]:
    lines = ["| model | accuracy | ROC AUC | log loss | Brier |", "|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [f"{r['summary'][m]['mean']:.3f} ± {r['summary'][m]['std']:.3f}" for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _pooled(oof: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every repeat's out-of-fold probabilities, with the matching labels."""
    return oof.ravel(), np.tile(y, oof.shape[0])


def plot_roc(results: dict[str, Any], y: np.ndarray, path: Path) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, r in results.items():
        p, t = _pooled(r["oof"], y)
        fpr, tpr, _ = roc_curve(t, p)
        ax.plot(fpr, tpr, label=f"{name} (pooled AUC {roc_auc_score(t, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC curves, out-of-fold predictions",
    )
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)


def plot_calibration(results: dict[str, Any], y: np.ndarray, path: Path) -> None:
    from sklearn.calibration import calibration_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    for name, r in results.items():
        p, t = _pooled(r["oof"], y)
        frac, mean_p = calibration_curve(t, p, n_bins=10, strategy="quantile")
        ax.plot(mean_p, frac, marker="o", ms=3, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="perfectly calibrated")
    ax.set(
        xlabel="predicted probability of presence",
        ylabel="observed fraction with presence",
        title="Calibration (reliability), out-of-fold, deciles",
    )
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def plot_loss_curves(X: np.ndarray, y: np.ndarray, path: Path) -> None:
    """Training and validation loss per epoch on the first evaluation fold."""
    train, test = next(StratifiedKFold(10, shuffle=True, random_state=EVALUATION_SEED).split(X, y))
    scaler = StandardScaler().fit(X[train])
    Xtr, Xte = scaler.transform(X[train]), scaler.transform(X[test])
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (title, params) in zip(
        axes,
        [("NeuralNet defaults", {}), ("tutorial configuration", TUTORIAL_PARAMS)],
        strict=True,
    ):
        net = NeuralNet(random_state=0, **params).fit(Xtr, y[train], validation_data=(Xte, y[test]))
        ax.plot(net.loss_curve_, label="training loss (incl. L2 penalty)")
        ax.plot(net.validation_loss_curve_, label="validation loss (held-out fold)")
        ax.set(title=title, xlabel="epoch", ylabel="binary cross-entropy")
        ax.legend(fontsize=8)
    _save(fig, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)


def write_report(run: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_roc(run["results"], run["y"], out_dir / "roc.png")
    plot_calibration(run["results"], run["y"], out_dir / "calibration.png")
    plot_loss_curves(run["X"], run["y"], out_dir / "loss_curves.png")
    report = out_dir / "evaluation.md"
    lines = [
        "# Model evaluation",
        "",
        f"Written by `python -m scripts.evaluate` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"{run['n_repeats']} x repeated stratified 10-fold cross-validation (seed "
        f"{EVALUATION_SEED}), the same folds for every model, each behind a StandardScaler "
        "fitted on the training folds. Mean ± standard deviation over the "
        f"{10 * run['n_repeats']} test folds. Higher is better for accuracy and ROC AUC, "
        "lower for log loss and Brier score.",
        "",
        *markdown_table(run["results"]),
        "",
        "The tutorial configuration is 13-8-1, plain full-batch gradient descent, 100 epochs, "
        "standard-normal initial weights and the tutorial's step (0.001 times the *summed* "
        "gradient, which is 0.243 times NeuralNet's averaged one on 243 training rows). "
        "NeuralNet's defaults come from `reports/tuning.md`.",
        "",
        "![ROC curves](roc.png)",
        "",
        "![Calibration curve](calibration.png)",
        "",
        "![Training and validation loss](loss_curves.png)",
        "",
    ]
    if run.get("trust") is not None:
        plot_importance(run["trust"], out_dir / "importance.png", _pyplot())
        lines += report_lines(run["trust"], "importance.png")
    if run.get("missing") is not None:
        lines += ["", *missing_report_lines(run["missing"])]
    if run.get("external") is not None:
        plots = {}
        for cohort, c in run["external"]["cohorts"].items():
            png = plots[cohort] = f"calibration_{cohort.lower()}.png"
            plot_external_calibration(c, cohort, out_dir / png, _pyplot())
        lines += ["", *external_report_lines(run["external"], plots)]
    report.write_text("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path("data/heart.dat"), help="the data cross-validated"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=Path("reports"), help="where the report and plots go"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repeats of 10-fold CV")
    parser.add_argument(
        "--trust-repeats", type=int, default=2, help="repeats for the trust signals (0: none)"
    )
    parser.add_argument(
        "--missing-repeats", type=int, default=5, help="repeats for missing measurements (0: none)"
    )
    parser.add_argument(
        "--external", type=Path, default=Path("data/external"), help="the other hospitals' data"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = evaluate(
        args.data,
        args.repeats,
        trust_repeats=args.trust_repeats,
        missing_repeats=args.missing_repeats,
        external=args.external,
    )
    report = write_report(run, args.out_dir)
    print("\n".join(markdown_table(run["results"])))
    log.info("wrote %s and its plots", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
