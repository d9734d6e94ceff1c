"""examples/client.py against a live server with an API key."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.tolerances import assert_probabilities_close

pytestmark = pytest.mark.slow  # a real server

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("client", ROOT / "examples" / "client.py")
assert spec and spec.loader
client_module = importlib.util.module_from_spec(spec)
sys.modules["client"] = client_module  # dataclasses look their module up there
spec.loader.exec_module(client_module)
HeartRiskClient, ServiceError = client_module.HeartRiskClient, client_module.ServiceError
PATIENT = client_module.EXAMPLE_PATIENT
KEY = "k-123-a-longer-key"


def test_client_single_batch_errors_and_api_key(live_server: Any) -> None:
    with live_server(API_KEY=KEY) as server:
        with HeartRiskClient(server.url, api_key=KEY) as client:
            assert client.ready()
            one = client.predict(PATIENT)
            assert 0 <= one["probability"] <= 1 and one["label"] in ("absence", "presence")
            batch = client.predict_batch([PATIENT, {**PATIENT, "age": 70}])
            assert len(batch) == 2
            assert_probabilities_close(batch[0]["probability"], one["probability"])
            with pytest.raises(ServiceError) as bad:
                client.predict({**PATIENT, "thal": 4})
            assert bad.value.status == 422 and bad.value.details[0]["field"] == "thal"
            assert "thal: Input should be one of 3 (normal)" in str(bad.value)
        with (
            HeartRiskClient(server.url, api_key="wrong") as client,
            pytest.raises(ServiceError) as denied,
        ):
            client.predict(PATIENT)
        assert denied.value.status == 401 and denied.value.code == "unauthorized"

        run = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "client.py"),
                "--url",
                server.url,
                "--api-key",
                KEY,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 0, run.stderr
    assert "one patient: probability" in run.stdout and "refused as expected: 422" in run.stdout
