"""Named API keys from API_KEYS_FILE: each works, its name (never the key)
goes into the request log, and they rotate on reload without a restart."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from model.features import EXAMPLE_PATIENT
from tests.conftest import Server

ALICE, BOB, CAROL = "alice-key-0123456789abcdef", "bob-key-0123456789abcdef", "carol-key-0123456789"


def _request_lines(text: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "request"]


def test_named_keys_work_and_their_names_are_logged_never_the_keys(
    artifact_path: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# clinic keys\nclinic-a {ALICE}\n\nclinic-b {BOB}\n")
    app = create_app(Settings(model_path=artifact_path, api_keys_file=keys))
    with TestClient(app) as client:
        capfd.readouterr()
        assert client.post(
            "/predict", json=EXAMPLE_PATIENT, headers={"X-API-Key": ALICE}
        ).is_success
        r = client.post(
            "/explain", json=EXAMPLE_PATIENT, headers={"Authorization": f"Bearer {BOB}"}
        )
        assert r.is_success
        assert (
            client.post("/predict", json=EXAMPLE_PATIENT, headers={"X-API-Key": CAROL}).status_code
            == 401
        )
        assert client.post("/predict", json=EXAMPLE_PATIENT).status_code == 401
        client.app.state.telemetry.flush()  # type: ignore[attr-defined]
    err = capfd.readouterr().err
    names = [line["api_key_name"] for line in _request_lines(err)]
    assert names == ["clinic-a", "clinic-b", None, None]
    assert ALICE not in err and BOB not in err and CAROL not in err


def test_keys_rotate_on_reload_and_a_bad_file_keeps_the_old_ones(
    artifact_path: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"clinic-a {ALICE}\n")
    app = create_app(Settings(model_path=artifact_path, api_keys_file=keys))
    with TestClient(app) as client:

        def status(key: str) -> int:
            return client.post(
                "/predict", json=EXAMPLE_PATIENT, headers={"X-API-Key": key}
            ).status_code

        assert (status(ALICE), status(CAROL)) == (200, 401)
        keys.write_text(f"clinic-c {CAROL}\n")
        assert app.state.api_keys.reload() is None
        assert (status(ALICE), status(CAROL)) == (401, 200)
        keys.write_text("clinic-d short\n")
        problem = app.state.api_keys.reload()
        assert problem is not None and "line 1" in problem
        assert (status(ALICE), status(CAROL)) == (401, 200)  # the old keys stay in force


def test_a_bad_keys_file_stops_the_start_with_one_line(artifact_path: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("only-a-name\n")
    app = create_app(Settings(model_path=artifact_path, api_keys_file=keys))
    with pytest.raises(Exception, match="line 1"), TestClient(app):
        pass


@pytest.mark.slow  # a real server
def test_keys_rotate_on_sighup(
    artifact_path: Path, tmp_path: Path, live_server: Callable[..., AbstractContextManager[Server]]
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"clinic-a {ALICE}\n")
    with live_server(API_KEYS_FILE=str(keys)) as server:

        def status(key: str) -> int:
            r = httpx.post(
                f"{server.url}/predict", json=EXAMPLE_PATIENT, headers={"X-API-Key": key}
            )
            return r.status_code

        assert (status(ALICE), status(BOB)) == (200, 401)
        keys.write_text(f"clinic-b {BOB}\n")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while status(BOB) != 200:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert status(ALICE) == 401
