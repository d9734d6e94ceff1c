"""Warnings for patients unlike the training data (`model.typicality`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from model.artifact import load_artifact
from model.data import load_heart
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor
from model.typicality import FLAGGED_SHARE, fit_reference, mahalanobis
from scripts.train import SPLIT_SEED, TEST_SIZE
from tests.conftest import DATA

ODD = {
    **EXAMPLE_PATIENT,
    "age": 25,
    "serum_cholesterol": 550,
    "max_heart_rate": 210,
    "st_depression": 5,
}
"""Every field accepted, but a 25-year-old with this cholesterol, heart rate
and ST depression is like nobody in the training data."""


def _row(patient: dict[str, float]) -> list[float]:
    return [float(patient[f]) for f in FEATURE_NAMES]


@pytest.fixture(scope="module")
def training_rows() -> np.ndarray:
    X, y = load_heart(DATA)
    X_train, _, _, _ = train_test_split(
        X.to_numpy(), y, test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    return X_train


def test_a_field_wise_valid_but_atypical_patient_is_flagged(predictor: Predictor) -> None:
    (answer,) = predictor.assess([_row(ODD)])
    codes = {(w.code, w.field) for w in answer.warnings}
    assert ("atypical_patient", None) in codes
    assert ("outside_training_range", "age") in codes
    assert ("outside_training_range", "max_heart_rate") in codes
    age = next(w for w in answer.warnings if w.field == "age")
    assert "25" in age.message and "29 to 77" in age.message  # the value and the range
    assert 0.0 <= answer.probability <= 1.0  # a warning, never a refusal


def test_the_example_patient_has_no_warning(predictor: Predictor) -> None:
    (answer,) = predictor.assess([_row(EXAMPLE_PATIENT)])
    assert answer.warnings == ()


def test_at_most_2_percent_of_training_rows_are_flagged_atypical(
    predictor: Predictor, training_rows: np.ndarray
) -> None:
    answers = predictor.assess(training_rows)
    flagged = [any(w.code == "atypical_patient" for w in a.warnings) for a in answers]
    assert np.mean(flagged) <= 0.02
    # no training row is outside the training range
    assert not any(w.code == "outside_training_range" for a in answers for w in a.warnings)


def test_threshold_flags_about_1_percent_out_of_fold(training_rows: np.ndarray) -> None:
    from sklearn.model_selection import KFold

    splits = KFold(10, shuffle=True, random_state=0).split(training_rows)
    reference, measured = fit_reference(training_rows, splits)
    assert measured["out_of_fold_flagged"] == pytest.approx(FLAGGED_SHARE, abs=0.005)
    assert measured["threshold"] == reference.threshold
    distances = mahalanobis(training_rows, reference)
    assert np.mean(distances > reference.threshold) == measured["training_rows_flagged"]


def test_model_card_figures_are_recorded(artifact_path: Path) -> None:
    meta = load_artifact(artifact_path).metadata
    assert meta["typicality"]["threshold"] == load_artifact(artifact_path).reference.threshold
    assert 0 < meta["typicality"]["out_of_fold_flagged"] <= 0.02
    assert meta["ensemble"]["size"] >= 20 and 0 <= meta["ensemble"]["held_out_coverage"] <= 1
    assert meta["background"]["size"] >= 20
    assert meta["background"]["mean_abs_change_other_backgrounds"] >= 0
