"""Site recalibration (`scripts.recalibrate`): a new artifact whose answers
are sigmoid(a + b logit(p)) of the old ones (complete patients and those
with fields missing), checked and self-tested like any artifact, shown by
/model; and the refusals, each naming what is wrong."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from model.artifact import load_artifact
from model.data import load_external
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.serving import Predictor
from scripts.recalibrate import MIN_PATIENTS, main, recalibrate
from tests.artifact_helpers import copy_artifact
from tests.tolerances import assert_probabilities_close

SWISS = Path(__file__).resolve().parents[2] / "data" / "external" / "processed.switzerland.data"


def _write_site(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*FEATURE_NAMES, "outcome"])
        for row, outcome in zip(X, y, strict=True):
            writer.writerow(["" if np.isnan(v) else f"{v:g}" for v in row] + [int(outcome)])
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    X, y, _ = load_external(SWISS)
    path = tmp_path_factory.mktemp("site") / "site.csv"
    return _write_site(path, X, y), X, y


def test_the_recalibrated_model_answers_sigmoid_of_a_plus_b_logit(
    artifact_path: Path, tmp_path: Path, site: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    path, X, y = site
    out = tmp_path / "recalibrated.pkl"
    meta = recalibrate(artifact_path, path, out)
    r = meta["recalibration"]
    assert r["n"] == 123 and r["prevalence"] == pytest.approx(115 / 123)
    assert r["intercept"] > 0  # the Swiss patients are far more often ill than heart.dat's
    old, new = Predictor(load_artifact(artifact_path)), Predictor(load_artifact(out))
    assert new.self_test() is None
    assert new.version == f"{old.version}.r{new.version.rsplit('.r', 1)[1]}" != old.version
    example = np.array([EXAMPLE_PATIENT[f] for f in FEATURE_NAMES])
    complete = np.where(np.isnan(X[:5]), example, X[:5])
    rows = np.vstack([X[:20], complete])  # partial rows and complete ones
    for before, after in zip(old.assess(rows), new.assess(rows), strict=True):
        logit = np.log(before.probability / (1 - before.probability))
        expected = 1 / (1 + np.exp(-(r["intercept"] + r["slope"] * logit)))
        assert_probabilities_close(after.probability, expected)
    # and the recalibration fits: on its own patients it is right on average
    p = np.array([a.probability for a in new.assess(X)])
    assert abs(p.mean() - y.mean()) < 0.02


def test_model_shows_the_recalibration(
    artifact_path: Path, tmp_path: Path, site: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    out = tmp_path / "recalibrated.pkl"
    recalibrate(artifact_path, site[0], out)
    with TestClient(create_app(Settings(model_path=out))) as client:
        info = client.get("/model").json()
        assert info["recalibration"]["n"] == 123 and info["model_version"].count(".r") == 1
        assert client.get("/ready").status_code == 200
    with TestClient(create_app(Settings(model_path=artifact_path))) as client:
        assert client.get("/model").json()["recalibration"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("few", f"at least {MIN_PATIENTS} are needed"),
        ("one-class", "both classes are needed"),
        ("bad-value", "line 5, field thal"),
        ("text", "line 3, field age: not a number"),
        ("outcome", "line 2, field outcome"),
        ("header", "the header must be"),
    ],
)
def test_bad_site_files_are_refused_naming_what_is_wrong(
    artifact_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    site: tuple[Path, np.ndarray, np.ndarray],
    change: str,
    message: str,
) -> None:
    _, X, y = site
    X, y = X.copy(), y.copy()
    if change == "few":
        X, y = X[: MIN_PATIENTS - 1], y[: MIN_PATIENTS - 1]
    elif change == "one-class":
        y[:] = 1
    elif change == "bad-value":
        X[3, FEATURE_NAMES.index("thal")] = 4  # line 5: the header is line 1
    path = _write_site(tmp_path / "site.csv", X, y)
    text = path.read_text().splitlines()
    if change == "text":
        text[2] = "old" + text[2][text[2].index(",") :]
    elif change == "outcome":
        text[1] = text[1][: text[1].rindex(",")] + ",2"
    elif change == "header":
        text[0] = text[0].replace("thal", "thallium")
    path.write_text("\n".join(text) + "\n")
    out = tmp_path / "out.pkl"
    assert main(["--data", str(path), "--out", str(out), "--model", str(artifact_path)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_recalibrated_explanations_add_up_to_the_recalibrated_answer(
    artifact_path: Path, tmp_path: Path, site: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    out = tmp_path / "recalibrated.pkl"
    recalibrate(artifact_path, site[0], out)
    predictor = Predictor(load_artifact(out))
    X = site[1][:3]  # fields missing
    example = np.array([EXAMPLE_PATIENT[f] for f in FEATURE_NAMES])
    for e in predictor.explain(np.vstack([X, example])):
        total = e.base_value + sum(e.contributions)
        assert total == pytest.approx(e.assessment.probability, abs=1e-12)


def test_a_recalibrated_artifact_is_served_by_a_reload(
    artifact_path: Path, tmp_path: Path, site: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    """Written over MODEL_PATH, the recalibrated artifact is swapped in by the
    reload that SIGHUP runs, like any new model."""
    served = copy_artifact(artifact_path, tmp_path / "served")
    with TestClient(create_app(Settings(model_path=served))) as client:
        before = client.post("/predict", json=EXAMPLE_PATIENT).json()
        recalibrate(served, site[0], served)  # the script writes the new artifact in place
        reload = client.app.state.reloader.reload  # type: ignore[attr-defined]
        assert client.portal.call(reload) is None  # type: ignore[union-attr]
        after = client.post("/predict", json=EXAMPLE_PATIENT).json()
        assert after["model_version"] == client.get("/model").json()["model_version"]
        assert after["model_version"].startswith(before["model_version"] + ".r")
        assert after["probability"] > before["probability"]  # the Swiss site's higher risk


def test_by_default_the_new_artifact_goes_beside_the_old_one(
    artifact_path: Path, tmp_path: Path, site: tuple[Path, np.ndarray, np.ndarray]
) -> None:
    """The documented `--out artifacts/model.pkl` overwrote the served model
    (main at a3fc0b3); now --out is optional and never the model itself."""
    model = copy_artifact(artifact_path, tmp_path)
    before = model.read_bytes()
    assert main(["--data", str(site[0]), "--model", str(model), "--out", str(model)]) == 2
    assert main(["--data", str(site[0]), "--model", str(model)]) == 0
    (written,) = tmp_path.glob("model-recalibrated-*.pkl")
    assert model.read_bytes() == before and written.read_bytes() != before
