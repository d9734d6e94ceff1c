"""Settings, read once from the environment (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_path: Path = Field(
        Path("artifacts/model.pkl"),
        description="The pickled artifact; its SHA-256 sidecar sits beside it.",
    )
    max_batch: int = Field(1000, ge=1, description="Most patients in one /predict/batch.")
    log_level: str = Field("INFO", description="Level of the service's own log lines.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
