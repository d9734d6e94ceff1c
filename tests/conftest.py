"""Shared fixtures: a real artifact trained once per test session, an app
client, and real server processes (`python -m app`) for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

# Every app and server the tests start keeps its record (AUDIT_DSN) in one
# temporary file of this session, never in the checkout's var/.
_RECORD = Path(tempfile.mkdtemp(prefix="heart-record-")) / "audit.sqlite3"
os.environ.setdefault("AUDIT_DSN", f"sqlite:///{_RECORD}")

from app.config import Settings  # noqa: E402  (after AUDIT_DSN)
from app.main import create_app  # noqa: E402
from model.artifact import load_artifact  # noqa: E402
from model.features import EXAMPLE_PATIENT  # noqa: E402
from model.serving import Predictor  # noqa: E402
from scripts.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "heart.dat"

HIGH_RISK_PATIENT = {
    **EXAMPLE_PATIENT,
    "chest_pain_type": 4,
    "exercise_induced_angina": 1,
    "st_depression": 3.5,
    "num_major_vessels": 3,
    "thal": 7,
    "max_heart_rate": 105,
    "st_slope": 2,
}
"""A made-up patient with every sign pointing to disease: the model says presence."""


@pytest.fixture(scope="session")
def artifact_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real artifact, trained with the project's defaults on the real data
    (without the cross-validated metrics, which take as long again; the
    slow determinism test trains with them)."""
    path = tmp_path_factory.mktemp("artifact") / "model.pkl"
    train(DATA, path, cv_repeats=0)
    return path


@pytest.fixture(scope="session")
def predictor(artifact_path: Path) -> Predictor:
    """The serving predictor of the session's artifact (read-only in tests)."""
    return Predictor(load_artifact(artifact_path))


@pytest.fixture
def client(artifact_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(model_path=artifact_path, max_batch=1000))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(artifact_path: Path) -> Iterator[TestClient]:
    """One app for a whole module: for tests that only send requests and read
    answers (each app takes ~20 ms to build and load)."""
    app = create_app(Settings(model_path=artifact_path, max_batch=1000))
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def start_server(env: dict[str, str], log_path: Path) -> Server:
    """Start `python -m app` on a free loopback port; the caller waits and stops it."""
    port = int(env.get("PORT") or free_port())
    full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), **env}
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log_file.close()
    return Server(f"http://127.0.0.1:{port}", port, process, log_path)


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{server.url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not become ready:\n{server.log()}")
        time.sleep(0.1)


@pytest.fixture
def live_server(
    artifact_path: Path, tmp_path: Path
) -> Callable[..., AbstractContextManager[Server]]:
    """`with live_server(WORKERS="2") as server:` a ready server, stopped after."""

    @contextmanager
    def serve(**env: str) -> Iterator[Server]:
        server = start_server({"MODEL_PATH": str(artifact_path), **env}, tmp_path / "server.log")
        try:
            wait_ready(server)
            yield server
        finally:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()

    return serve


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server for the session (tests/postgres.py)."""
    from tests.postgres import PostgresServer, binaries

    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_dsn(postgres_server: Any) -> str:
    """The DSN of a new, empty database on the session's PostgreSQL server."""
    return str(postgres_server.database())
