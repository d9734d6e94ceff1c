"""One patient explained in-process: this service's exact Shapley values
against shap's ExactExplainer and KernelExplainer (its default number of
samples) on the same network, patient and background (part of `make bench`).

    python -m benchmarks.explain

Each is timed as the median of repeated calls (shap's explainers are built
once, outside the timing, as a user would). The answers are checked first:
ExactExplainer must agree to 1e-9; KernelExplainer is an approximation and
its largest difference is reported.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import model_path
from model.artifact import load_artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor


def _median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: Path) -> dict[str, float]:
    """Seconds per explanation of one patient, and the speed-ups."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

    artifact = load_artifact(model)
    predictor = Predictor(artifact)
    background = artifact.background
    x = np.array([[float(EXAMPLE_PATIENT[f]) for f in FEATURE_NAMES]])

    def f(Z: np.ndarray) -> np.ndarray:
        return np.array(predictor.probabilities(Z))

    exact = shap.explainers.Exact(f, shap.maskers.Independent(background, len(background)))
    kernel = shap.KernelExplainer(f, background)
    ours = predictor.explain(x)[0].contributions
    np.testing.assert_allclose(ours, exact(x).values[0], rtol=0, atol=1e-9)
    kernel_values = np.asarray(kernel.shap_values(x, silent=True)).reshape(-1)
    out = {
        "ours_s": _median_seconds(lambda: predictor.explain(x), 51),
        "exact_s": _median_seconds(lambda: exact(x), 5),
        "kernel_s": _median_seconds(lambda: kernel.shap_values(x, silent=True), 5),
        "kernel_max_abs_error": float(np.max(np.abs(kernel_values - np.asarray(ours)))),
        "background": float(len(background)),
    }
    out["speedup_exact"] = out["exact_s"] / out["ours_s"]
    out["speedup_kernel"] = out["kernel_s"] / out["ours_s"]
    return out


def table(m: dict[str, float]) -> list[str]:
    return [
        "| explainer (one patient, same network and background of "
        f"{m['background']:.0f} rows) | median time | this service is faster by |",
        "|---|---|---|",
        f"| this service, exact (all 8,192 coalitions) | {m['ours_s'] * 1e3:.2f} ms | |",
        f"| shap ExactExplainer, maskers.Independent | {m['exact_s'] * 1e3:.1f} ms | "
        f"{m['speedup_exact']:.0f}x |",
        f"| shap KernelExplainer, default samples (an approximation: largest error "
        f"{m['kernel_max_abs_error']:.1e}) | {m['kernel_s'] * 1e3:.1f} ms | "
        f"{m['speedup_kernel']:.0f}x |",
    ]


def main() -> int:
    model = model_path()
    print("\n".join(table(measure(model))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
