"""Dependencies the routes declare: the loaded predictor and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.config import Settings
from model.serving import Predictor


def get_predictor(request: Request) -> Predictor:
    predictor: Predictor | None = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise HTTPException(503, "The model is not loaded.")
    return predictor


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (`create_app(settings)`)."""
    settings: Settings = request.app.state.settings
    return settings


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def require_json(request: Request) -> None:
    """Refuse a body that is not declared as JSON (415) before it is parsed."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPException(
            415, "Send the body as JSON with the header 'Content-Type: application/json'."
        )
