"""Start-up with a bad artifact: in-process, and as a real uvicorn process."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app import heap
from app.config import Settings
from app.main import create_app
from model.artifact import ArtifactError
from model.features import EXAMPLE_PATIENT
from tests.artifact_helpers import RunsCode, copy_artifact, read_payload, write_with_matching_hash
from tests.conftest import start_server

ROOT = Path(__file__).resolve().parents[2]


def _bad_artifacts(good: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (artifact path, text the one-line error must contain)."""

    def copy(name: str) -> Path:
        return copy_artifact(good, tmp / name)

    missing = tmp / "missing" / "model.pkl"
    tampered = copy("tampered")
    with tampered.open("ab") as f:
        f.write(b"\0")
    truncated = copy("truncated")
    truncated.write_bytes(truncated.read_bytes()[:100])
    malicious = copy("malicious")
    write_with_matching_hash(
        malicious, {**read_payload(good), "metadata": {"x": RunsCode(tmp / "pwned")}}
    )
    malformed = copy("malformed")
    payload = read_payload(good)
    write_with_matching_hash(malformed, {**payload, "features": payload["features"][:-1]})
    return {
        "missing": (missing, "model artifact not found"),
        "tampered": (tampered, "SHA-256 does not match"),
        "truncated": (truncated, "SHA-256 does not match"),
        "malicious": (malicious, "is forbidden"),
        "malformed": (malformed, "malformed artifact: features must be"),
    }


CASES = ["missing", "tampered", "truncated", "malicious", "malformed"]


@pytest.mark.parametrize("case", CASES)
def test_bad_artifact_fails_the_lifespan(artifact_path: Path, tmp_path: Path, case: str) -> None:
    path, text = _bad_artifacts(artifact_path, tmp_path)[case]
    with (
        pytest.raises(ArtifactError, match=text),
        TestClient(create_app(Settings(model_path=path))),
    ):
        pass
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_real_server_exits_non_zero_with_one_clear_line(
    artifact_path: Path, tmp_path: Path, case: str
) -> None:
    path, text = _bad_artifacts(artifact_path, tmp_path)[case]
    server = start_server({"MODEL_PATH": str(path)}, tmp_path / "server.log")
    server.process.wait(timeout=60)
    out = server.log()
    assert server.process.returncode != 0
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if text in line]
    assert len(lines) == 1, out
    assert str(path) in lines[0] and "make train" in lines[0]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_real_server_answers_predict(live_server: Any) -> None:
    with live_server() as server:
        r = httpx.post(f"{server.url}/predict", json=EXAMPLE_PATIENT, timeout=5)
    assert r.status_code == 200
    assert 0 <= r.json()["probability"] <= 1


def test_the_start_up_heap_is_frozen_while_serving_and_thawed_at_shutdown(
    artifact_path: Path,
) -> None:
    """Full collections under load walk only what requests made (app.heap)."""
    assert gc.get_freeze_count() == 0
    default = gc.get_threshold()
    with TestClient(create_app(Settings(model_path=artifact_path, audit="off"))) as client:
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the libraries', the routes' and the model's objects
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *default[1:])
        assert client.post("/predict", json=EXAMPLE_PATIENT).status_code == 200
    assert gc.get_freeze_count() == 0  # collectable again: the app is gone
    assert gc.get_threshold() == default
