"""Offline training: heart.dat -> artifacts/model.pkl (+ .sha256, + loss curve PNG).

    python -m scripts.train [--data data/heart.dat] [--out artifacts/model.pkl]

Splits 80/20 as the tutorial does (test_size=0.2, random_state=2), fits a
StandardScaler on the training part only, trains `NeuralNet` with its
defaults (or the options given), then what the answers' trust signals need
(`model.companions`, `model.typicality`): a bootstrap ensemble of
ENSEMBLE_SIZE networks with the same hyper-parameters, a Shapley background
of BACKGROUND_SIZE training rows, and the typicality reference. Prints
train and held-out metrics and writes the artifact described in
`model/artifact.py`. The same data and seed give the same weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model import NeuralNet
from model.artifact import FORMAT_VERSION, file_sha256, save_artifact
from model.companions import (
    BACKGROUND_SIZE,
    ENSEMBLE_SIZE,
    draw_background,
    measure_trust,
    train_members,
)
from model.data import load_heart
from model.ensemble import LEVEL, percentile_interval
from model.evaluation import cross_validated, evaluation_folds, metrics, summarise
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES, THRESHOLD
from model.propagation import forward
from scripts import cli

log = logging.getLogger("scripts.train")

TEST_SIZE = 0.2
SPLIT_SEED = 2
DEFAULT_SEED = 0
ROOT = Path(__file__).resolve().parent.parent


def train(
    data_path: Path,
    out_path: Path,
    params: dict[str, Any] | None = None,
    plot_path: Path | None = None,
    cv_repeats: int = 5,
) -> dict[str, Any]:
    """Train, write the artifact, and return its metadata.

    With `cv_repeats` > 0 the same configuration is also cross-validated on
    the whole file (`cv_repeats` x stratified 10-fold, the evaluation's
    folds) and the figures are recorded as ``metrics["cross_validated"]``.
    """
    X, y = load_heart(data_path)
    X_train, X_test, y_train, y_test = train_test_split(
        X.to_numpy(), y, test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    scaler = StandardScaler().fit(X_train)
    scaled_train = scaler.transform(X_train)
    net = NeuralNet(**{"random_state": DEFAULT_SEED, **(params or {})})
    net.fit(scaled_train, y_train)

    p_train = net.predict_proba(scaled_train)[:, 1]
    p_test = net.predict_proba(scaler.transform(X_test))[:, 1]
    members = train_members(scaled_train, y_train, net.get_params(), ENSEMBLE_SIZE, DEFAULT_SEED)
    background = draw_background(X_train, y_train, BACKGROUND_SIZE, DEFAULT_SEED)
    reference, trust = measure_trust(
        net.weights_, members, background, scaler, (X_train, y_train, X_test)
    )

    metadata: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model_version": model_version(data_path, net.get_params()),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "file": data_path.name,
            "sha256": file_sha256(data_path),
            "rows": len(y),
            "split": {"test_size": TEST_SIZE, "random_state": SPLIT_SEED},
            "n_train": len(y_train),
            "n_test": len(y_test),
        },
        "hyperparameters": {k: _plain(v) for k, v in net.get_params().items()},
        "epochs_run": net.n_iter_,
        "threshold": THRESHOLD,
        "metrics": {
            "train": metrics(y_train, p_train),
            "held_out": metrics(y_test, p_test),
            **_cross_validated(X.to_numpy(), y, net.get_params(), cv_repeats),
        },
        **trust,
        "self_test": self_test(net.weights_, members, scaler.mean_, scaler.scale_),
        "libraries": _libraries(),
    }
    save_artifact(out_path, net.weights_, members, background, X_train, reference, scaler, metadata)
    if plot_path is not None:
        plot_loss_curve(net, plot_path)
    return metadata


def self_test(
    weights: Any,
    members: list[Any],
    mean: np.ndarray,
    scale: np.ndarray,
    calibrate: Callable[[float], float] = float,
) -> dict[str, Any]:
    """What the served model must answer for EXAMPLE_PATIENT (its start-up
    self-test), computed here by the training code's own forward pass on
    scaled rows; `calibrate` maps each probability (a site's recalibration,
    `scripts.recalibrate`)."""
    example = (np.array([[EXAMPLE_PATIENT[f] for f in FEATURE_NAMES]]) - mean) / scale
    low, high = percentile_interval(np.hstack([forward(m, example)[0] for m in members]))
    return {
        "patient": dict(EXAMPLE_PATIENT),
        "probability": calibrate(float(forward(weights, example)[0][0, 0])),
        "interval": [calibrate(float(low[0])), calibrate(float(high[0]))],
        "interval_level": LEVEL,
    }


TRAINING_CODE = ("model", "scripts/train.py")
"""The training code whose source `model_version` hashes: every module of
the model package and this script (so an edit to any of them, even a
comment, gives a new version; the same checkout always gives the same one)."""


def model_version(data_path: Path, params: dict[str, Any]) -> str:
    """The recipe's name: the package version plus a digest of what the model
    is trained from (the data file's SHA-256, the hyper-parameters and seeds,
    the split, the ensemble and background sizes, the artifact format, and
    the training code's source). The same recipe gives the same version on
    every machine, however its CPU rounds; `artifact_sha256` (in `/model`)
    is the identity of the trained bits."""
    recipe = {
        "data_sha256": file_sha256(data_path),
        "hyperparameters": {k: _plain(v) for k, v in sorted(params.items())},
        "split": {"test_size": TEST_SIZE, "random_state": SPLIT_SEED},
        "companions": {
            "seed": DEFAULT_SEED,
            "ensemble_size": ENSEMBLE_SIZE,
            "background_size": BACKGROUND_SIZE,
        },
        "format_version": FORMAT_VERSION,
        "training_code": training_code_sha256(),
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{version('heart-risk-service')}+{digest[:12]}"


def training_code_sha256(root: Path = ROOT) -> str:
    """SHA-256 over the training code's source files, by path, with line
    endings made LF (a Windows checkout hashes as a Linux one)."""
    digest = hashlib.sha256()
    for entry in TRAINING_CODE:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def _libraries() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        **{lib: version(lib) for lib in ("numpy", "scikit-learn", "pandas")},
    }


def _cross_validated(
    X: np.ndarray, y: np.ndarray, params: dict[str, Any], repeats: int
) -> dict[str, Any]:
    if repeats < 1:
        return {}
    pipe = make_pipeline(StandardScaler(), NeuralNet(**params))
    per_fold, _ = cross_validated(pipe, X, y, evaluation_folds(repeats))
    return {
        "cross_validated": {
            "scheme": f"{repeats} x repeated stratified 10-fold, whole data set",
            **summarise(per_fold),
        }
    }


def _plain(value: Any) -> Any:
    """Hyper-parameters as plain Python values (the artifact holds no NumPy scalars)."""
    return value.item() if isinstance(value, np.generic) else value


def plot_loss_curve(net: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(net.loss_curve_, label="training loss")
    if net.validation_loss_curve_:
        ax.plot(net.validation_loss_curve_, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("binary cross-entropy")
    ax.set_title("NeuralNet training loss")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path("data/heart.dat"), help="the training data"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("artifacts/model.pkl"),
        help="the artifact written, with its .sha256 beside it",
    )
    parser.add_argument(
        "--plot", type=Path, default=Path("artifacts/loss_curve.png"), help="the loss curve written"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="network random_state")
    parser.add_argument(
        "--cv-repeats", type=int, default=5, help="repeats of 10-fold CV recorded (0: none)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    meta = train(args.data, args.out, {"random_state": args.seed}, args.plot, args.cv_repeats)
    for split in ("train", "held_out"):
        m = meta["metrics"][split]
        log.info(
            "%-8s accuracy %.3f  ROC AUC %.3f  log loss %.3f  Brier %.3f",
            split,
            m["accuracy"],
            m["roc_auc"],
            m["log_loss"],
            m["brier"],
        )
    cv = meta["metrics"].get("cross_validated")
    if cv:
        log.info(
            "CV       accuracy %.3f  ROC AUC %.3f  log loss %.3f  Brier %.3f  (%s)",
            *(cv[m]["mean"] for m in ("accuracy", "roc_auc", "log_loss", "brier")),
            cv["scheme"],
        )
    log.info("model %s, %d epochs", meta["model_version"], meta["epochs_run"])
    log.info("wrote %s (+ .sha256) and %s", args.out, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
