"""FastAPI calling the scikit-learn pipeline's predict_proba on every request,
with this service's request schemas: what a typical FastAPI model server does.

PIPELINE names the joblib file built by build_pipeline.py."""

import os

import joblib
import numpy as np
from fastapi import FastAPI

from app.api.schemas import BatchRequest, Patient
from model.features import FEATURE_NAMES

app = FastAPI()
pipeline = joblib.load(os.environ["PIPELINE"])


def _answers(patients: list) -> list[dict[str, object]]:
    X = np.array([[getattr(p, f) for f in FEATURE_NAMES] for p in patients])
    out = []
    for p in pipeline.predict_proba(X)[:, 1].tolist():
        c = int(p >= 0.5)
        out.append(
            {
                "probability": p,
                "class": c,
                "label": ("absence", "presence")[c],
                "model_version": "sklearn",
            }
        )
    return out


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(patient: Patient) -> dict[str, object]:  # type: ignore[valid-type]
    return _answers([patient])[0]


@app.post("/predict/batch")
async def predict_batch(batch: BatchRequest) -> dict[str, object]:
    return {"predictions": _answers(batch.patients)}
