"""Settings, read once from the environment (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_KEY_LENGTH = 16
"""The shortest API key accepted, API_KEY and API_KEYS_FILE's alike (`app.keys`)."""


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_path: Path = Field(
        Path("artifacts/model.pkl"),
        description="The pickled artifact; its SHA-256 sidecar sits beside it.",
    )
    model_name: str = Field(
        "heart-disease", description="The model's name in the Open Inference Protocol (V2)."
    )
    max_batch: int = Field(1000, ge=1, description="Most patients in one /predict/batch.")
    max_explain_batch: int = Field(
        100, ge=1, description="Most patients in one /explain/batch (each takes milliseconds)."
    )
    max_concurrency: int = Field(
        256,
        ge=1,
        description="Requests one worker serves at once; more get 503 with Retry-After.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    body_budget_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Bytes of request bodies one worker holds while they arrive, all "
        "connections together; a body that would pass it gets 503 with Retry-After.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, every scoring route requires it (Authorization: Bearer <key> "
        "or X-API-Key: <key>), and the CDS Hooks routes need CDS_CLIENTS_FILE; at least "
        "16 characters.",
    )
    api_keys_file: Path | None = Field(
        None,
        description="A file of named keys, one 'name key' per line, read again on SIGHUP; "
        "with API_KEY or alone, the scoring routes then require one of them.",
    )
    cds_clients_file: Path | None = Field(
        None,
        description="A JSON list of the EHRs allowed to call the CDS Hooks routes, each with "
        "its issuer and public keys (inline or an allowlisted jku), read again on SIGHUP; "
        "when set, every CDS Hooks call needs the EHR's signed JWT.",
    )
    public_base_url: str | None = Field(
        None,
        description="The URL clients call this service at (e.g. https://risk.example.org), "
        "for the JWT audience and the card's links; unset: the URL of each request.",
    )
    smart_clients_file: Path | None = Field(
        None,
        description="JSON list of the EHRs that may launch the risk page with SMART on FHIR: "
        "each entry's iss (the EHR's FHIR base URL), client_id, and optional client_secret "
        "and scope; read again on SIGHUP. Needs PUBLIC_BASE_URL (the redirect_uri).",
    )
    page_frame_ancestors: str = Field(
        "'none'",
        description="The risk page's CSP frame-ancestors: who may show /app in a frame, e.g. "
        "the EHR's origin https://ehr.example.org ('none': nobody).",
    )
    fhir_timeout: float = Field(
        1.0,
        gt=0,
        description="Seconds to read the prefetch an EHR did not send from its FHIR server; "
        "else 412.",
    )
    audit: Literal["on", "off"] = Field(
        "on",
        description="The record of every /predict answer (off: nothing is kept).",
    )
    audit_dsn: str = Field(
        "sqlite:///var/audit.sqlite3",
        description="Where the record is kept: sqlite:///relative/path or sqlite:////absolute/path "
        "(a SQLite file in WAL mode; the directory is created), or "
        "postgresql://user:password@host:port/database (several replicas).",
    )
    audit_mode: Literal["strict", "async"] = Field(
        "strict",
        description="strict: an answer leaves once its row is durable; async: rows are written "
        "behind, from a queue of at most AUDIT_QUEUE_ROWS and AUDIT_QUEUE_BYTES.",
    )
    audit_queue_rows: int = Field(
        100_000,
        ge=1,
        description="AUDIT_MODE=async: most rows (one a request) waiting; beyond, requests wait.",
    )
    audit_queue_bytes: int = Field(
        64 << 20,
        ge=1,
        description="AUDIT_MODE=async: most bytes of inputs and answers waiting; beyond, "
        "requests wait.",
    )
    audit_spool: Path | None = Field(
        None,
        description="Where rows wait when the database cannot take them (default: the SQLite "
        "file's path plus .spool; var/audit.spool with PostgreSQL). Each process takes its "
        "own file: this path, then this path plus .1, .2, ...",
    )
    audit_spool_max_age: float = Field(
        300.0, gt=0, description="Seconds a row may wait in the spool before /ready says 503."
    )
    audit_inputs: Literal["full", "hash"] = Field(
        "full",
        description="What the record keeps of a patient's values: full, or hash (a keyed "
        "HMAC-SHA256 of them, with AUDIT_HMAC_KEY, for sites that may not keep them).",
    )
    audit_hmac_key: SecretStr | None = Field(
        None, description="The key of AUDIT_INPUTS=hash (required then; 32 characters or more)."
    )
    monitor_window: int = Field(
        1000, ge=50, description="How many of the latest answers GET /monitoring describes."
    )
    monitor_interval: float = Field(
        30.0,
        gt=0,
        description="Seconds between two monitoring reports (computed in the background).",
    )
    request_timeout: float = Field(
        15.0, gt=0, description="Seconds for a request's headers and body to arrive; else 408."
    )
    keep_alive_timeout: float = Field(
        5.0, gt=0, description="Seconds an idle kept-alive connection stays open."
    )
    log_level: str = Field("INFO", description="Level of the service's own log lines.")
    host: str = Field("127.0.0.1", description="Address `python -m app` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `python -m app` listens on.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes for `python -m app`.")
    event_loop: Literal["asyncio", "uvloop"] = Field(
        "asyncio",
        description="The event loop of `python -m app`. asyncio's accepts every waiting "
        "connection at once; uvloop's left about 120 of 1,000 waiting for seconds under load.",
    )

    @model_validator(mode="after")
    def _keys_are_long_enough(self) -> Settings:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        if key is not None and len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"API_KEY must be {MIN_KEY_LENGTH} characters or more, like every key in "
                "API_KEYS_FILE (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return self

    @model_validator(mode="after")
    def _smart_needs_a_base_url(self) -> Settings:
        if self.smart_clients_file is not None and self.public_base_url is None:
            raise ValueError(
                "SMART_CLIENTS_FILE needs PUBLIC_BASE_URL: the redirect_uri registered with the "
                "EHR is PUBLIC_BASE_URL/smart/callback (e.g. https://risk.example.org)"
            )
        return self

    @model_validator(mode="after")
    def _hash_needs_a_key(self) -> Settings:
        if self.audit_inputs == "hash":
            key = self.audit_hmac_key.get_secret_value() if self.audit_hmac_key else ""
            if len(key) < 32:
                raise ValueError("AUDIT_INPUTS=hash needs AUDIT_HMAC_KEY of 32 characters or more")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
