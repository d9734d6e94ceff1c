"""In-process timing of the serving path against scikit-learn, same weights:
`Predictor.assess` for one patient (what /predict runs: the served network,
its 20 bootstrap members and the warnings) and `Predictor.probabilities`
(the served network alone) for 100,000; and the median of one answer with
three fields missing (`model.missing`; target: at most 2 ms).

python -m benchmarks.inprocess   (also part of `make bench`)
"""

from __future__ import annotations

import sys
import tempfile
import timeit
from pathlib import Path

import joblib
import numpy as np

from benchmarks.contenders.factories import build_pipeline, export_weights
from benchmarks.harness import ROOT
from model.artifact import load_artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor


def _best(fn: object, number: int, repeat: int = 7) -> float:
    """Seconds per call, best of `repeat` rounds of `number` calls."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number  # type: ignore[arg-type]


def measure(model: Path, weights: Path, pipeline_path: Path) -> dict[str, float]:
    predictor = Predictor(load_artifact(model))
    pipeline = joblib.load(pipeline_path)
    scaler, mlp = pipeline[0], pipeline[-1]
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for n, number in ((1, 5000), (100_000, 5)):
        X = rng.normal(130, 40, size=(n, 13))
        scaled = scaler.transform(X)
        # one row as the route passes it (a list of floats), many as an array
        rows = X.tolist() if n == 1 else X
        np.testing.assert_allclose(
            predictor.probabilities(rows), pipeline.predict_proba(X)[:, 1], rtol=1e-9, atol=1e-12
        )
        if n == 1:  # what /predict runs: the served network, its ensemble, the warnings
            out["ours_1"] = _best(lambda rows=rows: predictor.assess(rows), number)
        else:  # the served network alone, on many rows
            out[f"ours_{n}"] = _best(lambda rows=rows: predictor.probabilities(rows), number)
        out[f"pipe_{n}"] = _best(lambda X=X: pipeline.predict_proba(X), number)
        out[f"mlp_{n}"] = _best(lambda s=scaled: mlp.predict_proba(s), number)
    out["speedup_1"] = out["pipe_1"] / out["ours_1"]
    out["missing_3"] = median_missing(predictor)
    return out


MISSING_THREE = ("st_slope", "num_major_vessels", "thal")
"""The fields a chart most often lacks (no exercise slope, fluoroscopy or thallium scan)."""


def median_missing(predictor: Predictor, calls: int = 2001) -> float:
    """Seconds for one answer with MISSING_THREE null (`model.missing`): the
    median of single calls, as the target is stated."""
    row: list[float | None] = [float(EXAMPLE_PATIENT[f]) for f in FEATURE_NAMES]
    for name in MISSING_THREE:
        row[FEATURE_NAMES.index(name)] = None
    (answer,) = predictor.assess([row])
    assert len(answer.missing) == 3
    times = timeit.repeat(lambda: predictor.assess([row]), number=1, repeat=calls)
    return float(np.median(times))


def main() -> int:
    model = ROOT / "artifacts" / "model.pkl"
    with tempfile.TemporaryDirectory() as tmp:
        weights = export_weights(model, Path(tmp) / "w.npz")
        pipeline = build_pipeline(Path(sys.executable), weights, Path(tmp) / "p.joblib")
        for key, value in measure(model, weights, pipeline).items():
            print(f"{key:12s} {value * 1e6 if key[0] != 's' else value:12.2f}")  # us, or x
    return 0


if __name__ == "__main__":
    sys.exit(main())
