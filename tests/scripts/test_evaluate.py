"""The evaluation script: same folds for every model, a report with plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.evaluation import evaluation_folds
from scripts.evaluate import evaluate, write_report
from scripts.evaluate_trust import summary

DATA = Path(__file__).resolve().parents[2] / "data" / "heart.dat"


@pytest.mark.slow
def test_evaluation_writes_the_report_and_plots(tmp_path: Path) -> None:
    run = evaluate(
        DATA,
        n_repeats=1,
        show_progress=False,
        trust_repeats=1,
        missing_repeats=1,
        external=DATA.parent / "external",
    )
    results = run["results"]
    assert list(results) == [
        "NeuralNet (defaults)",
        "NeuralNet (tutorial configuration)",
        "sklearn LogisticRegression()",
        "sklearn MLPClassifier((8,))",
    ]
    for r in results.values():
        assert r["oof"].shape == (1, 270)  # every row predicted once per repeat
        assert 0.5 < r["summary"]["roc_auc"]["mean"] <= 1.0
    ours, tutorial = results["NeuralNet (defaults)"], results["NeuralNet (tutorial configuration)"]
    assert ours["summary"]["log_loss"]["mean"] < tutorial["summary"]["log_loss"]["mean"]

    report = write_report(run, tmp_path)
    text = report.read_text()
    assert text.count("\n| NeuralNet") == 2 and "| sklearn LogisticRegression() |" in text
    trust = summary(run["trust"])
    assert 0.5 <= trust["coverage"] <= 1.0
    assert trust["width_wrong"] > 0 and trust["width_correct"] > 0
    assert 0.0 <= trust["width_auc_for_wrong"] <= 1.0
    assert 0.0 <= trust["atypical_share"] <= 0.05
    contributions = run["trust"]["contributions"]
    assert not np.isnan(contributions).any()  # every patient explained out-of-fold once
    assert "## Trust signals, out-of-fold" in text and "ensemble mean" in text
    assert "## Measurements missing, simulated" in text and "does NOT beat" not in text
    assert "## Other hospitals (external validation)" in text
    for cohort, n in (("Hungarian", 294), ("Swiss", 123)):
        figures = run["external"]["cohorts"][cohort]["figures"]
        assert len(figures) == 4 and f"| {cohort} | published anchor" in text
        served = figures["served: network, missing fields null"]
        assert 0.5 < served["roc_auc"] <= 1 and run["external"]["cohorts"][cohort]["n"] == n
    pngs = ("calibration_hungarian.png", "calibration_swiss.png")
    for png in ("roc.png", "calibration.png", "loss_curves.png", "importance.png", *pngs):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text


def test_the_folds_are_the_same_on_every_call() -> None:
    import numpy as np

    y = np.array([0, 1] * 50)
    a = [test.tolist() for _, test in evaluation_folds(2).split(np.zeros((100, 1)), y)]
    b = [test.tolist() for _, test in evaluation_folds(2).split(np.zeros((100, 1)), y)]
    assert a == b and len(a) == 20
