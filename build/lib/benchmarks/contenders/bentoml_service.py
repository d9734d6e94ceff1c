"""BentoML 1.4 serving the same scikit-learn pipeline (PIPELINE env var).

    bentoml serve bentoml_service:HeartService --port PORT
POST /predict {"rows": [[13 floats], ...]} -> [P(presence), ...]
"""

import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class HeartService:
    def __init__(self) -> None:
        self.pipeline = joblib.load(os.environ["PIPELINE"])

    @bentoml.api
    def predict(self, rows: list[list[float]]) -> list[float]:
        return self.pipeline.predict_proba(np.asarray(rows))[:, 1].tolist()
