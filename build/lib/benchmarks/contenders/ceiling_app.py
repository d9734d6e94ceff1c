"""The ceiling: a bare FastAPI app with this service's request schemas that
returns constants, so its cost is the framework's and validation's alone."""

from fastapi import FastAPI

from app.api.schemas import BatchRequest, Patient

app = FastAPI()
ANSWER = {"probability": 0.5, "class": 1, "label": "presence", "model_version": "ceiling"}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(patient: Patient) -> dict[str, object]:  # type: ignore[valid-type]
    return ANSWER


@app.post("/predict/batch")
async def predict_batch(batch: BatchRequest) -> dict[str, object]:
    return {"predictions": [ANSWER] * len(batch.patients)}
