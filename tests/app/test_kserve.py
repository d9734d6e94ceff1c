"""The Open Inference Protocol (V2) with KServe's own client
(`InferenceRESTClient`, protocol v2) against a real server, and the KServe
manifests in deploy/kserve/ checked against the KServe SDK's models.

KServe's package cannot live in the project's environment (it pins pandas
< 3), so it runs in its own (tests/kserve/env.py) and reports what it saw as
JSON (tests/kserve/client_check.py); the assertions are here."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from model.features import EXAMPLE_PATIENT, FEATURE_NAMES, FEATURES
from tests.conftest import HIGH_RISK_PATIENT, ROOT, Server, start_server, wait_ready
from tests.kserve.env import HERE, kserve_python
from tests.tolerances import assert_probabilities_close

pytestmark = pytest.mark.slow  # a real server, and a second environment

MODEL = "heart-disease"
PATIENTS = [EXAMPLE_PATIENT, HIGH_RISK_PATIENT, {**EXAMPLE_PATIENT, "age": 70}]
X = np.array([[float(p[f]) for f in FEATURE_NAMES] for p in PATIENTS])
MAX_BATCH = 5


@pytest.fixture(scope="module")
def seen(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """What KServe's client saw of a real server, and the server."""
    python = kserve_python()
    log = tmp_path_factory.mktemp("kserve") / "server.log"
    server = start_server({"MODEL_PATH": str(artifact_path), "MAX_BATCH": str(MAX_BATCH)}, log)
    try:
        wait_ready(server)
        sex = FEATURE_NAMES.index("sex")
        bad = {
            "code_out_of_range": np.where(np.arange(13) == sex, 2.0, X[0])[None, :],
            "nan": np.where(np.arange(13) == 0, np.nan, X[0])[None, :],
            "too_many_rows": np.repeat(X[:1], MAX_BATCH + 1, axis=0),
        }
        spec = {
            "url": server.url,
            "model": MODEL,
            "names": list(FEATURE_NAMES),
            "coded": [f.name for f in FEATURES if f.codes is not None],
            "rows": X.tolist(),
            "bad": {k: v.tolist() for k, v in bad.items()},
        }
        result = subprocess.run(
            [str(python), str(HERE / "client_check.py"), "infer"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        yield json.loads(result.stdout), server
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)


def _predict(server: Server, values: np.ndarray) -> list[dict[str, Any]]:
    return [
        httpx.post(f"{server.url}/predict", json=dict(zip(FEATURE_NAMES, r, strict=True))).json()
        for r in values.astype(np.float64).tolist()
    ]


def test_kserve_client_sees_a_live_and_ready_server_and_model(seen: Any) -> None:
    answers, _ = seen
    assert answers["server_live"] is True
    assert answers["server_ready"] is True
    assert answers["model_ready"] is True
    assert answers["unknown_model_ready"] is False


@pytest.mark.parametrize("form", ["json", "binary", "fp32", "columns"])
def test_kserve_client_answers_equal_predict(seen: Any, form: str) -> None:
    answers, server = seen
    outputs = answers[form]["outputs"]
    expected = _predict(server, X.astype(np.float32) if form == "fp32" else X)
    assert_probabilities_close(outputs["probability"], [e["probability"] for e in expected])
    assert outputs["class"] == [e["class"] for e in expected]
    for end in ("low", "high"):
        assert_probabilities_close(
            outputs[f"interval_{end}"], [e["interval"][end] for e in expected]
        )
    assert answers[form]["id"] == "k-1"


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("wrong_shape", "shape [n, 13]"),
        ("wrong_datatype", "datatype must be one of"),
        ("missing_input", "inputs must be one tensor"),
        ("code_out_of_range", "row 0, field sex"),
        ("nan", "row 0: values must be finite"),
        ("too_many_rows", f"1 to {MAX_BATCH} patients"),
    ],
)
def test_kserve_client_gets_400_naming_the_problem(seen: Any, case: str, says: str) -> None:
    answers, _ = seen
    assert answers[case]["status"] == 400, answers[case]
    assert says in answers[case]["message"]


def test_kserve_manifests_are_valid_sdk_models_with_v2_probes_and_replicas() -> None:
    paths = sorted(str(p) for p in (ROOT / "deploy" / "kserve").glob("*.yaml"))
    result = subprocess.run(
        [str(kserve_python()), str(HERE / "client_check.py"), "manifests", *paths],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    checked = json.loads(result.stdout)
    assert {v["kind"] for v in checked.values()} == {
        "V1beta1InferenceService",
        "V1alpha1ServingRuntime",
    }
    assert all(v["problems"] == [] for v in checked.values()), checked
    service = yaml.safe_load((ROOT / "deploy" / "kserve" / "inferenceservice.yaml").read_text())
    runtime = yaml.safe_load((ROOT / "deploy" / "kserve" / "servingruntime.yaml").read_text())
    predictor = predictor_spec = service["spec"]["predictor"]
    model = predictor_spec["model"]
    assert model["protocolVersion"] == "v2" and "v2" in runtime["spec"]["protocolVersions"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert model["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert set(model["resources"]) == {"requests", "limits"}
    assert 1 <= predictor["minReplicas"] < predictor["maxReplicas"]
    env = {e["name"]: e.get("value") for e in runtime["spec"]["containers"][0]["env"]}
    assert env["MODEL_NAME"] == service["metadata"]["name"]  # clients call /v2/models/<name>
    assert "AUDIT_DSN" in env and env["AUDIT_DSN"] is None  # from the Secret, not in the file
    mounts = [m["mountPath"] for m in runtime["spec"]["containers"][0]["volumeMounts"]]
    assert env["AUDIT_SPOOL"].startswith(f"{mounts[0]}/")  # the root is read-only
    port = runtime["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert env["PORT"] == str(port) == str(model["readinessProbe"]["httpGet"]["port"])


def test_kserve_manifest_check_finds_unknown_fields_and_wrong_types(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "kserve" / "inferenceservice.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace("protocolVersion:", "protocolVersoin:").replace(
            "minReplicas: 2", 'minReplicas: "2"'
        )
    )
    result = subprocess.run(
        [str(kserve_python()), str(HERE / "client_check.py"), "manifests", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    problems = json.loads(result.stdout)[str(broken)]["problems"]
    assert any("unknown field 'protocolVersoin'" in p for p in problems)
    assert any("minReplicas: expected int" in p for p in problems)
