"""`model_version` names the training recipe, not the trained bits: another
CPU rounds training differently and must still print the same version."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import scripts.train as training
from model import NeuralNet
from model.artifact import load_artifact
from model.serving import Predictor
from scripts.train import model_version, train, training_code_sha256
from tests.conftest import DATA, ROOT
from tests.tolerances import ACROSS_MACHINES, assert_probabilities_close


class _OtherCpu(NeuralNet):
    """A network whose trained weights end one ulp away, as another CPU's
    rounding leaves them."""

    def fit(self, X: Any, y: Any) -> _OtherCpu:
        super().fit(X, y)
        self.weights_ = {k: np.nextafter(v, np.inf) for k, v in self.weights_.items()}
        return self


def test_same_recipe_other_rounding_same_version(
    artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "NeuralNet", _OtherCpu)
    other = tmp_path / "model.pkl"
    meta = train(DATA, other, cv_repeats=0)
    here, there = load_artifact(artifact_path), load_artifact(other)
    assert not np.array_equal(here.weights["W1"], there.weights["W1"])  # other bits
    version = meta["model_version"]
    assert here.metadata["model_version"] == there.metadata["model_version"] == version
    rows = np.random.default_rng(5).normal(120, 40, size=(200, 13))
    assert_probabilities_close(
        Predictor(here).probabilities(rows), Predictor(there).probabilities(rows), ACROSS_MACHINES
    )


def test_the_version_changes_with_the_recipe(artifact_path: Path, tmp_path: Path) -> None:
    params = NeuralNet(random_state=training.DEFAULT_SEED).get_params()
    served = load_artifact(artifact_path).metadata["model_version"]
    assert model_version(DATA, params) == served
    assert model_version(DATA, {**params, "random_state": 1}) != served
    assert model_version(DATA, {**params, "learning_rate": 0.02}) != served
    changed = tmp_path / "heart.dat"
    changed.write_bytes(DATA.read_bytes().replace(b"\n", b" \n", 1))
    assert model_version(changed, params) != served


def test_training_code_digest_ignores_line_endings_not_edits(tmp_path: Path) -> None:
    for entry in training.TRAINING_CODE:
        source = ROOT / entry
        target = tmp_path / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    assert training_code_sha256(tmp_path) == training_code_sha256()
    for file in (tmp_path / "model").rglob("*.py"):
        file.write_bytes(file.read_bytes().replace(b"\n", b"\r\n"))  # a Windows checkout
    assert training_code_sha256(tmp_path) == training_code_sha256()
    network = tmp_path / "model" / "network.py"
    network.write_text(network.read_text() + "# an edit\n")
    assert training_code_sha256(tmp_path) != training_code_sha256()
