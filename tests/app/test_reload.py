"""A new model without a failed request: SIGHUP reloads and checks the
artifact, then swaps it in; a bad one leaves the old model serving."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from model.artifact import sidecar_path
from model.features import EXAMPLE_PATIENT
from scripts.train import train
from tests.artifact_helpers import copy_artifact, read_payload, write_with_matching_hash
from tests.conftest import DATA, Server
from tests.metrics_helpers import sample


@pytest.fixture
def served(artifact_path: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    path = copy_artifact(artifact_path, tmp_path / "served")
    with TestClient(create_app(Settings(model_path=path))) as client:
        yield client, path


def _reload(client: TestClient) -> str | None:
    return client.portal.call(client.app.state.reloader.reload)  # type: ignore[attr-defined,union-attr,no-any-return]


def test_reload_swaps_in_a_new_artifact(served: tuple[TestClient, Path]) -> None:
    client, path = served
    old = client.get("/model").json()["model_version"]
    payload = read_payload(path)
    payload["metadata"]["model_version"] = "9.9.9+new"
    write_with_matching_hash(path, payload)
    before = client.get("/metrics").text
    assert _reload(client) is None
    assert client.get("/model").json()["model_version"] == "9.9.9+new" != old
    assert client.post("/predict", json=EXAMPLE_PATIENT).json()["model_version"] == "9.9.9+new"
    after = client.get("/metrics").text
    loaded = sample(after, "heart_model_reloads_total", outcome="loaded")
    assert loaded - sample(before, "heart_model_reloads_total", outcome="loaded") == 1
    assert 'heart_model_info{sha256="' in after and 'version="9.9.9+new"' in after
    assert f'version="{old}"' not in after


@pytest.mark.parametrize("damage", ["tampered", "missing", "self-test"])
def test_a_bad_artifact_is_refused_and_the_old_model_keeps_serving(
    served: tuple[TestClient, Path], damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    client, path = served
    old = client.get("/model").json()["model_version"]
    if damage == "tampered":
        path.write_bytes(path.read_bytes() + b"x")
    elif damage == "missing":
        path.unlink()
    else:
        payload = read_payload(path)
        payload["metadata"]["self_test"]["probability"] = 0.123
        write_with_matching_hash(path, payload)
    before = client.get("/metrics").text
    problem = _reload(client)
    assert problem is not None
    expected = {"tampered": "SHA-256", "missing": "not found", "self-test": "self-test"}[damage]
    assert expected in problem
    assert client.get("/model").json()["model_version"] == old
    r = client.post("/predict", json=EXAMPLE_PATIENT)
    assert r.status_code == 200 and r.json()["model_version"] == old
    assert client.get("/ready").status_code == 200
    after = client.get("/metrics").text
    refused = sample(after, "heart_model_reloads_total", outcome="refused")
    assert refused - sample(before, "heart_model_reloads_total", outcome="refused") == 1
    lines = [r for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "ERROR"


def _hammer(url: str, stop: threading.Event, seen: list[tuple[int, str | None]]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            r = client.post("/predict", json=EXAMPLE_PATIENT)
            version = r.json().get("model_version") if r.status_code == 200 else None
            seen.append((r.status_code, version))


@pytest.mark.slow  # a real server under load, and a second training run
def test_sighup_under_load_switches_models_without_a_failed_request(
    artifact_path: Path, tmp_path: Path, live_server: Callable[..., AbstractContextManager[Server]]
) -> None:
    other = tmp_path / "other" / "model.pkl"
    train(DATA, other, params={"random_state": 1}, cv_repeats=0)
    served = copy_artifact(artifact_path, tmp_path / "served")
    with live_server(MODEL_PATH=str(served)) as server:
        old = httpx.get(f"{server.url}/model").json()["model_version"]
        new = read_payload(other)["metadata"]["model_version"]
        assert new != old
        stop, seen = threading.Event(), []
        workers = [
            threading.Thread(target=_hammer, args=(server.url, stop, seen)) for _ in range(64)
        ]
        for w in workers:
            w.start()
        time.sleep(1)
        shutil.copy(other, served)  # then its sidecar: a HUP in between would be refused
        shutil.copy(sidecar_path(other), sidecar_path(served))
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while httpx.get(f"{server.url}/model").json()["model_version"] != new:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        time.sleep(1)
        served.write_bytes(served.read_bytes()[:-10])  # tampered: refused, new keeps serving
        os.kill(server.process.pid, signal.SIGHUP)
        time.sleep(2)
        stop.set()
        for w in workers:
            w.join()
        assert httpx.get(f"{server.url}/model").json()["model_version"] == new
        log = server.log()
    statuses = {status for status, _ in seen}
    versions = [v for _, v in seen]
    assert statuses == {200}, statuses
    switch = versions.index(new)
    assert set(versions[:switch]) == {old} and set(versions[switch:]) <= {old, new}
    assert versions[-1] == new and len(seen) > 100
    assert log.count("model reload refused") == 1 and "Traceback" not in log
