"""A small client for the heart-disease risk service, using httpx.

    python examples/client.py [--url http://127.0.0.1:8000] [--api-key KEY]

Import it to use `HeartRiskClient` from your own code: it sends the API key
when given, retries nothing silently, and turns every error answer into a
`ServiceError` that says which fields were wrong and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx

EXAMPLE_PATIENT = {
    "age": 54, "sex": 1, "chest_pain_type": 4, "resting_blood_pressure": 130,
    "serum_cholesterol": 245, "fasting_blood_sugar": 0, "resting_ecg": 2,
    "max_heart_rate": 150, "exercise_induced_angina": 0, "st_depression": 1.0,
    "st_slope": 2, "num_major_vessels": 0, "thal": 3,
}  # fmt: skip


@dataclass
class ServiceError(Exception):
    """An error answer: its HTTP status, code, message and field details."""

    status: int
    code: str
    message: str
    details: list[dict[str, Any]]

    def __str__(self) -> str:
        fields = "; ".join(f"{d.get('field') or 'body'}: {d['message']}" for d in self.details)
        return f"{self.status} {self.code}: {self.message}" + (f" ({fields})" if fields else "")


class HeartRiskClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> HeartRiskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def predict(self, patient: dict[str, Any]) -> dict[str, Any]:
        """One patient -> {"probability", "class", "label", "model_version"}."""
        return self._post("/predict", patient)

    def predict_batch(self, patients: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several patients -> their predictions, in the same order."""
        return list(self._post("/predict/batch", {"patients": patients})["predictions"])

    def ready(self) -> bool:
        return self._http.get("/ready").status_code == 200

    def _post(self, path: str, body: Any) -> Any:
        response = self._http.post(path, json=body)
        if response.status_code == 200:
            return response.json()
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": response.text[:200], "details": []}
        raise ServiceError(
            response.status_code, error["code"], error["message"], error.get("details", [])
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=os.environ.get("API_KEY"))
    args = parser.parse_args(argv)
    with HeartRiskClient(args.url, args.api_key) as client:
        one = client.predict(EXAMPLE_PATIENT)
        print(f"one patient: probability {one['probability']:.3f} ({one['label']})")
        older = {**EXAMPLE_PATIENT, "age": 70}
        batch = client.predict_batch([EXAMPLE_PATIENT, older])
        print("batch:", ", ".join(f"{p['probability']:.3f}" for p in batch))
        try:
            client.predict({**EXAMPLE_PATIENT, "thal": 4})
        except ServiceError as error:
            print("refused as expected:", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
