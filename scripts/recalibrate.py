"""Site recalibration: refit the model's calibration on a hospital's own
labelled patients, and write a new artifact.

    python -m scripts.recalibrate --data site.csv [--model artifacts/model.pkl]
        [--out artifacts/model-site.pkl]

`site.csv` has a header of the API's field names plus `outcome` (0 or 1);
an empty cell means "not measured" (the patient is answered as the service
answers null). Every other value gets the API's checks; the first bad one
is named by line and field.

The recalibration is logistic: with p the model's answer (as the service
gives it, missing fields included) and logit(p) its log-odds, it fits
P(outcome) = sigmoid(a + b logit(p)) by maximum likelihood. The new artifact
is the old one with the recalibration recorded in its metadata (n,
prevalence, a, b, the site file's SHA-256, when, the model it recalibrates;
`GET /model` shows it), a new model_version and a new self-test; the
service applies it to every answer (`model.recalibration`) and checks the
artifact like any other.
The old artifact is never overwritten: the new one goes beside it. Serve it
like any new model: point MODEL_PATH at it and `kill -HUP` the service.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from model.artifact import file_sha256, load_artifact, save_artifact
from model.features import FEATURE_NAMES, FEATURES
from model.recalibration import Recalibration
from model.serving import Predictor
from scripts import cli
from scripts.train import self_test

log = logging.getLogger("scripts.recalibrate")

MIN_PATIENTS = 50
"""Fewer labelled patients than this give a calibration too noisy to serve."""


class SiteDataError(ValueError):
    """The site's file cannot be used; the message says where and why."""


def read_site_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rows (n, 13) with NaN where not measured, outcomes (n,) of 0/1)."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        expected = [*FEATURE_NAMES, "outcome"]
        if reader.fieldnames is None or sorted(reader.fieldnames) != sorted(expected):
            raise SiteDataError(f"{path}: the header must be {','.join(expected)}")
        rows, outcomes = [], []
        for line, record in enumerate(reader, start=2):
            rows.append([_value(path, line, f, record[f.name]) for f in FEATURES])
            outcome = record["outcome"].strip()
            if outcome not in ("0", "1"):
                raise SiteDataError(f"{path}, line {line}, field outcome: must be 0 or 1")
            outcomes.append(int(outcome))
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES)), np.array(outcomes)


def _value(path: Path, line: int, feature: Any, cell: str | None) -> float:
    cell = (cell or "").strip()
    if cell == "":
        return float("nan")  # not measured
    try:
        value = float(cell)
    except ValueError:
        raise SiteDataError(f"{path}, line {line}, field {feature.name}: not a number") from None
    if not feature.accepts(value):
        raise SiteDataError(
            f"{path}, line {line}, field {feature.name}: {cell} is outside what the API accepts"
        )
    return value


def fit(predictor: Predictor, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of P(outcome) = sigmoid(a + b logit(p)) on the site's patients."""
    if len(y) < MIN_PATIENTS:
        raise SiteDataError(f"{len(y)} patients: at least {MIN_PATIENTS} are needed")
    if len(set(y.tolist())) < 2:
        raise SiteDataError(f"every patient has outcome {int(y[0])}: both classes are needed")
    p = np.array([a.probability for a in predictor.assess(X)])
    return Recalibration.fit(y, p)


def recalibrate(model: Path, data: Path, out: Path) -> dict[str, Any]:
    """Fit on `data`, write the recalibrated artifact to `out`; its metadata."""
    artifact = load_artifact(model)
    X, y = read_site_csv(data)
    a, b = fit(Predictor(artifact), X, y)
    if b <= 0:
        raise SiteDataError(f"the fitted slope is {b:.3f}: the model ranks these patients "
                            "backwards, and no recalibration can serve them")  # fmt: skip
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = artifact.scaler_mean, artifact.scaler_scale
    scaler.var_, scaler.n_features_in_ = artifact.scaler_scale**2, len(FEATURE_NAMES)
    scaler.n_samples_seen_ = len(artifact.donors)
    record = {
        "n": len(y),
        "prevalence": float(y.mean()),
        "intercept": a,
        "slope": b,
        "data_sha256": file_sha256(data),
        "recalibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "of_model_version": artifact.metadata.get("model_version"),
    }
    named = {k: record[k] for k in ("data_sha256", "intercept", "slope", "of_model_version")}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()
    metadata = {
        **artifact.metadata,
        "model_version": f"{record['of_model_version']}.r{digest[:8]}",
        "recalibration": record,
        "self_test": self_test(
            artifact.weights,
            artifact.members,
            artifact.scaler_mean,
            artifact.scaler_scale,
            Recalibration(a, b).one,
        ),
    }
    save_artifact(out, artifact.weights, artifact.members, artifact.background, artifact.donors,
                  artifact.reference, scaler, metadata)  # fmt: skip
    problem = Predictor(load_artifact(out)).self_test()
    if problem is not None:  # the written artifact must pass what serving checks
        raise RuntimeError(f"{out}: the recalibrated artifact fails its self-test: {problem}")
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--data", type=Path, required=True, help="the site's labelled CSV")
    parser.add_argument(
        "--model", type=Path, default=Path("artifacts/model.pkl"),
        help="the artifact to recalibrate (default: artifacts/model.pkl); a recalibrated one "
        "gets a second recalibration on top of its first",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path,
        help="where to write the recalibrated artifact (default: beside --model, named "
        "<stem>-recalibrated-<UTC time>.pkl); never --model itself",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.out = args.model.with_name(f"{args.model.stem}-recalibrated-{stamp}.pkl")
    if args.out.resolve() == args.model.resolve():
        print("error: --out is the model it recalibrates; write beside it, then point "
              "MODEL_PATH at the new file", file=sys.stderr)  # fmt: skip
        return 2
    try:
        meta = recalibrate(args.model, args.data, args.out)
    except SiteDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    r = meta["recalibration"]
    log.info(
        "recalibrated on %d patients (prevalence %.3f): logit' = %.3f + %.3f logit; model %s",
        r["n"], r["prevalence"], r["intercept"], r["slope"], meta["model_version"],
    )  # fmt: skip
    log.info("wrote %s (+ .sha256); serve it with kill -HUP", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
