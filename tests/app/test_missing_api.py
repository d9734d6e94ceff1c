"""Charts with measurements missing: every field may be null. The answer is
the network's expectation over the unmeasured values (checked against a
plain re-computation with the training code's forward pass), says what is
missing and what measuring it could do, and explains over the measured
fields only; with nothing missing nothing changes."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model.artifact import load_artifact
from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from model.missing import BANDWIDTH, CUTOFF, MAX_DONORS
from model.propagation import forward
from model.serving import Predictor
from scripts.evaluate_missing import PATTERNS
from tests.tolerances import assert_probabilities_close

NAMED = {name: fields for name, fields in PATTERNS.items() if fields}


def _row(patient: dict[str, Any]) -> np.ndarray:
    return np.array([np.nan if patient[f] is None else patient[f] for f in FEATURE_NAMES])


def _oracle(artifact_path: Path, patient: dict[str, Any]) -> tuple[float, np.ndarray]:
    """(probability, weights) recomputed one donor at a time, with the
    training code's forward pass on scaled rows."""
    artifact = load_artifact(artifact_path)
    x = _row(patient)
    observed = [i for i in range(13) if not math.isnan(x[i])]
    scale = artifact.scaler_scale
    kernels = []
    for t in artifact.donors:
        d2 = sum(((x[i] - t[i]) / scale[i]) ** 2 for i in observed) / max(len(observed), 1)
        kernels.append(math.exp(-d2 / (2 * BANDWIDTH**2)) if observed else 1.0)
    k = np.array(kernels)
    if observed:
        k[k < CUTOFF * k.max()] = 0.0
        k[k < np.sort(k)[-MAX_DONORS]] = 0.0
    w = k / k.sum()
    rows = artifact.donors.copy()
    rows[:, observed] = x[observed]
    scaled = (rows - artifact.scaler_mean) / artifact.scaler_scale
    f = forward(artifact.weights, scaled)[0][:, 0]
    return float(w @ f), w


@pytest.mark.parametrize("pattern", list(NAMED), ids=list(NAMED))
def test_each_pattern_is_answered_with_the_expectation_and_what_is_missing(
    shared_client: TestClient, artifact_path: Path, pattern: str
) -> None:
    fields = NAMED[pattern]
    patient = {**EXAMPLE_PATIENT, **dict.fromkeys(fields)}
    r = shared_client.post("/predict", json=patient)
    assert r.status_code == 200, r.text
    body = r.json()
    expected, _ = _oracle(artifact_path, patient)
    assert_probabilities_close(body["probability"], expected)
    in_order = [f for f in FEATURE_NAMES if f in fields]
    assert [m["field"] for m in body["missing"]] == in_order
    missing_warnings = [w for w in body["warnings"] if w["code"] == "missing_input"]
    assert [w["field"] for w in missing_warnings] == in_order
    for m, w in zip(body["missing"], missing_warnings, strict=True):
        low, high = m["if_measured"]["low"], m["if_measured"]["high"]
        assert 0 <= low <= high <= 1
        assert f"between {low:.2f} and {high:.2f}" in w["message"]
    interval = body["interval"]
    assert interval["low"] <= interval["high"] and interval["level"] == 0.9


def test_what_measuring_a_coded_field_could_do_is_the_answer_with_it_measured(
    shared_client: TestClient,
) -> None:
    """The range for thal is read off the answers that measuring it would
    give: the service's own answers with thal = 3, 6 and 7."""
    gaps = {"num_major_vessels": None, "st_slope": None}
    patient = {**EXAMPLE_PATIENT, **gaps, "thal": None}
    body = shared_client.post("/predict", json=patient).json()
    (thal,) = [m for m in body["missing"] if m["field"] == "thal"]
    measured = [
        shared_client.post("/predict", json={**patient, "thal": code}).json()["probability"]
        for code in (3, 6, 7)
    ]
    for end in ("low", "high"):
        assert min(abs(thal["if_measured"][end] - p) for p in measured) < 1e-12
    assert min(measured) - 1e-12 <= thal["if_measured"]["low"]
    assert thal["if_measured"]["high"] <= max(measured) + 1e-12


def test_the_interval_covers_the_donors_as_well_as_the_members(
    shared_client: TestClient, artifact_path: Path
) -> None:
    patient = {**EXAMPLE_PATIENT, "thal": None, "num_major_vessels": None}
    body = shared_client.post("/predict", json=patient).json()
    artifact = load_artifact(artifact_path)
    _, w = _oracle(artifact_path, patient)
    x = _row(patient)
    observed = ~np.isnan(x)
    rows = artifact.donors.copy()
    rows[:, observed] = x[observed]
    scaled = (rows - artifact.scaler_mean) / artifact.scaler_scale
    members = np.column_stack([forward(m, scaled)[0][:, 0] for m in artifact.members])  # (n, m)
    weights = np.repeat(w, members.shape[1])
    low, high = np.quantile(
        members.ravel(), [0.05, 0.95], method="inverted_cdf", weights=weights
    )  # NumPy's own weighted quantile as the oracle
    assert_probabilities_close([body["interval"]["low"], body["interval"]["high"]], [low, high])


def test_nothing_missing_never_touches_the_missing_path(
    shared_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Complete patients are answered by the code that answered them before,
    byte for byte (and with no `missing` key)."""
    patients = [EXAMPLE_PATIENT, {**EXAMPLE_PATIENT, "age": 70}]
    before = [shared_client.post("/predict", json=p).content for p in patients]
    batch_before = shared_client.post("/predict/batch", json={"patients": patients}).content
    predictor = shared_client.app.state.predictor  # type: ignore[attr-defined]

    def refuse(*_: Any) -> Any:
        raise AssertionError("the missing-value path ran for a complete patient")

    monkeypatch.setattr(predictor._missing, "answers", refuse)
    after = [shared_client.post("/predict", json=p).content for p in patients]
    assert after == before and b'"missing"' not in after[0]
    assert shared_client.post("/predict/batch", json={"patients": patients}).content == batch_before


def test_nulls_inside_a_batch_answer_as_alone(shared_client: TestClient) -> None:
    patients = [
        EXAMPLE_PATIENT,
        {**EXAMPLE_PATIENT, "thal": None},
        {**EXAMPLE_PATIENT, "age": 61},
        dict.fromkeys(FEATURE_NAMES),  # nothing measured at all
    ]
    for route, key in (("/predict", "predictions"), ("/explain", "explanations")):
        batch = shared_client.post(f"{route}/batch", json={"patients": patients}).json()[key]
        for patient, b in zip(patients, batch, strict=True):
            alone = shared_client.post(route, json=patient).json()
            assert_probabilities_close(b["probability"], alone["probability"])
            assert b.get("missing") == alone.get("missing")
            assert b["warnings"] == alone["warnings"]


def test_explain_with_missing_fields_credits_the_measured_ones_exactly(
    shared_client: TestClient,
) -> None:
    missing = ("serum_cholesterol", "st_slope", "thal")
    patient = {**EXAMPLE_PATIENT, **dict.fromkeys(missing)}
    body = shared_client.post("/explain", json=patient).json()
    predicted = shared_client.post("/predict", json=patient).json()
    assert_probabilities_close(body["probability"], predicted["probability"])
    fields = [c["field"] for c in body["contributions"]]
    assert sorted(fields) == sorted(f for f in FEATURE_NAMES if f not in missing)
    total = body["base_value"] + sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["probability"], abs=1e-12)
    assert all(c["value"] is not None for c in body["contributions"])


def test_explain_measured_equals_the_shapley_formula_coalition_by_coalition(
    artifact_path: Path,
) -> None:
    """An independent oracle: v(S) summed donor by donor and background row
    by background row with the training code's forward pass, then Shapley's
    formula over the 4 measured features."""
    artifact = load_artifact(artifact_path)
    predictor = Predictor(artifact)
    x = _row({**dict.fromkeys(FEATURE_NAMES), **{f: EXAMPLE_PATIENT[f] for f in
              ("age", "sex", "chest_pain_type", "max_heart_rate")}})  # fmt: skip
    measured = [i for i in range(13) if not math.isnan(x[i])]
    (explained,) = predictor.explain([x.tolist()])
    donors, w = predictor._missing.weighted_donors(x)

    def v(S: tuple[int, ...]) -> float:
        total = 0.0
        for t, wt in zip(donors, w, strict=True):
            rows = np.tile(t, (len(artifact.background), 1))
            rows[:, measured] = artifact.background[:, measured]
            rows[:, list(S)] = x[list(S)]
            scaled = (rows - artifact.scaler_mean) / artifact.scaler_scale
            total += wt * forward(artifact.weights, scaled)[0][:, 0].mean()
        return total

    d = len(measured)
    for i in measured:
        others = [j for j in measured if j != i]
        phi = sum(
            math.factorial(len(S)) * math.factorial(d - len(S) - 1) / math.factorial(d)
            * (v((*S, i)) - v(S))
            for size in range(d)
            for S in itertools.combinations(others, size)
        )  # fmt: skip
        assert explained.contributions[i] == pytest.approx(phi, abs=1e-12)
    assert explained.base_value == pytest.approx(v(()), abs=1e-12)
    assert all(explained.contributions[i] == 0.0 for i in range(13) if i not in measured)
