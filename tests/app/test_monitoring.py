"""Monitoring (app.record.monitor): drift, missing values, warnings,
probabilities and performance, against independent oracles (scikit-learn's
AUC and Brier score, model.evaluation's calibration fit), a training sample
that must not raise an alarm, a shifted one that must; and GET /monitoring
end to end, computed in the background from the record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import brier_score_loss, roc_auc_score

from app.config import Settings
from app.main import create_app
from app.record.monitor import MIN_ROWS, report
from model.artifact import load_artifact
from model.features import FEATURE_NAMES
from model.recalibration import calibration_intercept_slope

AUDITOR = "auditor-key-0123456789abcdef"


@pytest.fixture(scope="module")
def training(artifact_path: Path) -> np.ndarray:
    return load_artifact(artifact_path).donors


def _rows(X: np.ndarray, p: np.ndarray | None = None) -> list[dict[str, Any]]:
    p = np.full(len(X), 0.3) if p is None else p
    return [
        {"id": f"r{i}", "inputs": {n: (None if np.isnan(v) else float(v))
                                   for n, v in zip(FEATURE_NAMES, x, strict=True)},
         "outputs": {"probability": float(q), "warnings": []}}
        for i, (x, q) in enumerate(zip(X, p, strict=True))
    ]  # fmt: skip


def test_samples_of_the_training_data_rarely_raise_an_alarm(training: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(30):
        sample = training[rng.integers(0, len(training), 200)]
        got = report(_rows(sample), training, {})
        assert all(d["test"] is not None for d in got["drift"].values())
        alarms += bool(got["drifted"])
        assert (
            max(d["psi"] for d in got["drift"].values()) < 0.25
        )  # "no real shift" by PSI's rule of thumb
    assert alarms <= 3  # family-wise 5% by Bonferroni: about 1.5 expected in 30


def test_a_shifted_population_is_found(training: np.ndarray) -> None:
    rng = np.random.default_rng(8)
    sample = training[rng.integers(0, len(training), 200)].copy()
    age, thal = FEATURE_NAMES.index("age"), FEATURE_NAMES.index("thal")
    sample[:, age] += 15  # an older clinic
    sample[:, thal] = 7  # where every thallium test shows a reversible defect
    got = report(_rows(sample), training, {})
    assert set(got["drifted"]) >= {"age", "thal"}
    assert got["drift"]["age"]["test"] == "ks" and got["drift"]["thal"]["test"] == "chi2"
    assert got["drift"]["age"]["psi"] > 0.25


def test_no_verdict_under_the_minimum_and_missing_values_are_counted(training: np.ndarray) -> None:
    few = report(_rows(training[: MIN_ROWS - 1]), training, {})
    assert few["drifted"] is None and all(d["drifted"] is None for d in few["drift"].values())
    sample = training[:100].copy()
    sample[:60, FEATURE_NAMES.index("thal")] = np.nan
    got = report(_rows(sample), training, {})
    assert got["missing_share"]["thal"] == pytest.approx(0.6)
    assert got["drift"]["thal"]["n"] == 40 and got["drift"]["thal"]["drifted"] is None


def test_performance_matches_independent_oracles(training: np.ndarray) -> None:
    rng = np.random.default_rng(9)
    p = rng.uniform(0.02, 0.98, 300)
    y = (rng.uniform(size=300) < p**1.3).astype(int)  # roughly calibrated, not exactly
    rows = _rows(training[rng.integers(0, len(training), 300)], p)
    got = report(rows, training, {r["id"]: int(o) for r, o in zip(rows, y, strict=True)})[
        "performance"
    ]
    assert got["n"] == 300
    assert got["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    intercept, slope = calibration_intercept_slope(y, p)
    assert got["calibration_intercept"] == pytest.approx(intercept, abs=1e-8)
    assert got["calibration_slope"] == pytest.approx(slope, abs=1e-8)
    too_few = report(rows, training, {rows[0]["id"]: 1})["performance"]
    assert too_few == {"n": 1}


def test_get_monitoring_reports_from_the_record_in_the_background(
    artifact_path: Path, tmp_path: Path, training: np.ndarray
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"auditor {AUDITOR} audit,score\n")
    settings = Settings(model_path=artifact_path, api_keys_file=keys, monitor_interval=0.2,
                        audit_dsn=f"sqlite:///{tmp_path / 'audit.sqlite3'}")  # fmt: skip
    headers = {"X-API-Key": AUDITOR}
    with TestClient(create_app(settings)) as client:
        assert client.get("/monitoring").status_code == 401
        patients = [dict(zip(FEATURE_NAMES, row.tolist(), strict=True)) for row in training[:80]]
        answered = client.post("/predict/batch", json={"patients": patients}, headers=headers)
        assert answered.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = client.get("/monitoring", headers=headers).json()
            if latest.get("rows") == 80:
                break
            time.sleep(0.1)
        assert latest["rows"] == 80 and latest["drifted"] == []
        computed = datetime.fromisoformat(latest["computed_at"])  # ISO 8601, as every time
        assert computed.utcoffset() == timedelta(0)
        probabilities = [a["probability"] for a in answered.json()["predictions"]]
        assert latest["probabilities"]["mean"] == pytest.approx(np.mean(probabilities), abs=1e-12)
        metrics = client.get("/metrics").text
        assert 'heart_monitor_drift_p_value{feature="age"}' in metrics


class _Tables(HTMLParser):
    """Every table row of a page: its class and its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append((dict(attrs).get("class"), []))
        elif tag in ("td", "th"):
            self.rows[-1][1].append("")

    def handle_data(self, data: str) -> None:
        if self.rows and self.rows[-1][1]:
            self.rows[-1][1][-1] += data


def test_the_html_report_shows_the_reports_figures_and_marks_drift(
    training: np.ndarray, artifact_path: Path, tmp_path: Path
) -> None:
    from scripts.monitoring_html import render

    shifted = training[:80].copy()
    shifted[:, FEATURE_NAMES.index("age")] += 25
    computed = report(_rows(shifted), training, {})
    tables = _Tables()
    tables.feed(render(computed, "0.1.0+test"))
    by_input = {cells[0]: (kind, cells) for kind, cells in tables.rows if cells[0] in FEATURE_NAMES}
    assert set(by_input) == set(FEATURE_NAMES)
    kind, cells = by_input["age"]
    age = computed["drift"]["age"]
    assert kind == "alarm" and cells[1:6] == ["ks", "80", f"{age['p_value']:.3g}",
                                              f"{age['psi']:.3g}", "yes"]  # fmt: skip
    assert by_input["sex"][0] is None and by_input["sex"][1][5] == "no"
    few = _Tables()
    few.feed(render(report(_rows(training[:10]), training, {}), "0.1.0+test"))
    assert all(cells[5] == "no verdict" for _, cells in few.rows if cells[0] in FEATURE_NAMES)
    db = tmp_path / "audit.sqlite3"
    settings = Settings(model_path=artifact_path, audit_dsn=f"sqlite:///{db}")
    patients = [dict(zip(FEATURE_NAMES, row.tolist(), strict=True)) for row in training[:60]]
    with TestClient(create_app(settings)) as client:
        assert client.post("/predict/batch", json={"patients": patients}).status_code == 200
    out = tmp_path / "monitoring.html"
    env = {**os.environ, "AUDIT_DSN": f"sqlite:///{db}"}
    cli = [sys.executable, "-m", "scripts.audit", "report", "--artifact", str(artifact_path)]
    done = subprocess.run([*cli, "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "60 latest answers" in page and "<script" not in page and "http" not in page
