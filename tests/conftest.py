"""Shared fixtures: a real artifact trained once per test session, and an app client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from scripts.train import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "heart.dat"


@pytest.fixture(scope="session")
def artifact_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real artifact, trained with the project's defaults on the real data."""
    path = tmp_path_factory.mktemp("artifact") / "model.pkl"
    train(DATA, path, cv_repeats=1)
    return path


@pytest.fixture
def client(artifact_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(model_path=artifact_path, max_batch=1000))
    with TestClient(app) as test_client:
        yield test_client
