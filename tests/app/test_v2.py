"""The Open Inference Protocol (V2), tested with Triton's own HTTP client
(its defaults send and ask for binary tensors; and its JSON mode) against a
real server; every answer equals /predict's to 1e-12."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from model.features import EXAMPLE_PATIENT, FEATURE_NAMES
from tests.conftest import HIGH_RISK_PATIENT, Server, start_server, wait_ready
from tests.tolerances import assert_probabilities_close

pytestmark = pytest.mark.slow  # a real server

MODEL = "heart-disease"
PATIENTS = [EXAMPLE_PATIENT, HIGH_RISK_PATIENT, {**EXAMPLE_PATIENT, "age": 70}]
X = np.array([[float(p[f]) for f in FEATURE_NAMES] for p in PATIENTS])
CASTS = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64}


@pytest.fixture(scope="module")
def server(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("v2") / "server.log"
    running = start_server({"MODEL_PATH": str(artifact_path), "MAX_BATCH": "5"}, log)
    try:
        wait_ready(running)
        yield running
    finally:
        running.process.terminate()
        running.process.wait(timeout=20)


@pytest.fixture(scope="module")
def triton(server: Server) -> Any:
    import tritonclient.http as th

    return th.InferenceServerClient(f"127.0.0.1:{server.port}")


def _predict(server: Server, values: np.ndarray) -> list[dict[str, Any]]:
    """/predict's answers for the same rows (as the server received them)."""
    rows = values.astype(np.float64).tolist()
    return [
        httpx.post(f"{server.url}/predict", json=dict(zip(FEATURE_NAMES, r, strict=True))).json()
        for r in rows
    ]


def _check(result: Any, expected: list[dict[str, Any]]) -> None:
    p = [e["probability"] for e in expected]
    assert_probabilities_close(result.as_numpy("probability"), p)
    assert result.as_numpy("class").tolist() == [e["class"] for e in expected]
    low, high = ([e["interval"][k] for e in expected] for k in ("low", "high"))
    assert_probabilities_close(result.as_numpy("interval_low"), low)
    assert_probabilities_close(result.as_numpy("interval_high"), high)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", list(CASTS))
def test_triton_client_one_tensor(triton: Any, server: Server, binary: bool, datatype: str) -> None:
    import tritonclient.http as th

    values = X.astype(CASTS[datatype])
    tensor = th.InferInput("patients", list(values.shape), datatype)
    tensor.set_data_from_numpy(values, binary_data=binary)
    names = ("probability", "class", "interval_low", "interval_high")
    outputs = None if binary else [th.InferRequestedOutput(n, binary_data=False) for n in names]
    result = triton.infer(MODEL, [tensor], outputs=outputs, request_id="r-1")
    _check(result, _predict(server, values))
    assert result.get_response()["id"] == "r-1"


@pytest.mark.parametrize("column_shape", ["[n]", "[n, 1]"])
def test_triton_client_thirteen_tensors(triton: Any, server: Server, column_shape: str) -> None:
    import tritonclient.http as th

    tensors = []
    for j, name in enumerate(FEATURE_NAMES):
        column = X[:, j] if column_shape == "[n]" else X[:, j : j + 1]
        t = th.InferInput(name, list(column.shape), "FP64")
        t.set_data_from_numpy(np.ascontiguousarray(column))
        tensors.append(t)
    _check(triton.infer(MODEL, tensors), _predict(server, X))


def test_health_metadata_and_readiness(triton: Any, server: Server) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(MODEL)
    metadata = triton.get_model_metadata(MODEL)
    version = httpx.get(f"{server.url}/model").json()["model_version"]
    assert metadata["versions"] == [version]
    assert {o["name"] for o in metadata["outputs"]} >= {"probability", "class"}
    assert triton.is_model_ready(MODEL, model_version=version)
    assert not triton.is_model_ready("other-model")
    r = httpx.get(f"{server.url}/v2/models/{MODEL}/versions/9.9.9")
    assert r.status_code == 404 and "unknown version" in r.json()["error"]
    assert httpx.get(f"{server.url}/v2").json()["extensions"] == ["binary_tensor_data"]


def _bad_cases() -> list[Any]:
    good = X.copy()
    out_of_range = good.copy()
    out_of_range[1, FEATURE_NAMES.index("thal")] = 5
    nan = good.copy()
    nan[2, 0] = np.nan
    return [
        pytest.param("patients", good[:, :12], "FP64", "shape [n, 13]", id="wrong-shape"),
        pytest.param("patients", good, "BOOL", "datatype", id="wrong-datatype"),
        pytest.param("patients", out_of_range, "FP64", "row 1, field thal", id="code-out-of-range"),
        pytest.param("patients", nan, "FP64", "row 2", id="nan"),
        pytest.param("age", good[:, 0], "FP64", "or the 13 fields", id="missing-input"),
        pytest.param("patients", np.repeat(good, 2, axis=0), "FP64", "1 to 5", id="too-many-rows"),
    ]


@pytest.mark.parametrize(("name", "values", "datatype", "message"), _bad_cases())
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bad_tensors_get_400_naming_the_problem(
    triton: Any, name: str, values: np.ndarray, datatype: str, message: str, binary: bool
) -> None:
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    tensor = th.InferInput(name, list(values.shape), datatype)
    if datatype == "BOOL":
        tensor.set_data_from_numpy(values.astype(bool), binary_data=binary)
    else:
        tensor.set_data_from_numpy(values, binary_data=binary)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer(MODEL, [tensor])
    assert caught.value.status() == "400"
    assert message in caught.value.message()


def _request(**changes: Any) -> dict[str, Any]:
    tensor = {"name": "patients", "shape": [1, 13], "datatype": "FP64", "data": X[0].tolist()}
    return {"id": "1", "inputs": [tensor], **changes}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_request(outputs=[{"name": "class", "extra": 1}]), "output 'class': unknown key 'extra'"),
        (_request(outputs=[{"name": "class", "parameters": {"binary_data": "yes"}}]), "true"),
        (_request(parameters={"binary_data_output": 1}), "binary_data_output"),
        (_request(inputs=[{**_request()["inputs"][0], "extra": 1}]), "unknown key 'extra'"),
        (_request(inputs=_request()["inputs"] * 2), "given twice"),
        (_request(id=7), "'id' must be a string"),
        (_request(model="x"), "unknown key 'model'"),
    ],
    ids=["output-key", "binary-data", "binary-output", "input-key", "twice", "id", "request-key"],
)
def test_what_the_published_schema_forbids_gets_400(
    server: Server, body: dict[str, Any], message: str
) -> None:
    """The infer routes refuse what their OpenAPI schema forbids (the fuzz
    test checks the two agree); null parameters and outputs are allowed by both."""
    url = f"{server.url}/v2/models/{MODEL}/infer"
    r = httpx.post(url, json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    allowed = _request(parameters=None, outputs=None)
    allowed["inputs"][0]["parameters"] = None
    assert httpx.post(url, json=allowed).status_code == 200
