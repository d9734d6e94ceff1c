"""Dependencies the routes declare: the predictor, the settings, the API key
check. (The content type and size of a body are checked earlier, by
`app.guards.middleware.JsonBodyGuard`. The prediction routes call `get_predictor`
themselves rather than declare it: solving a dependency costs a noticeable
part of a request; see docs/performance.md.)

All are `async def`: each takes microseconds, and FastAPI would run a plain
`def` dependency in its thread pool, a hop that costs more than the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings
from app.errors import FORBIDDEN, NOT_LOADED, UNAUTHORIZED, ApiError
from app.keys import ApiKeys
from model.serving import Predictor


async def get_predictor(request: Request) -> Predictor:
    predictor: Predictor | None = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise ApiError(NOT_LOADED)
    return predictor


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (`create_app(settings)`)."""
    settings: Settings = request.app.state.settings
    return settings


PredictorDep = Annotated[Predictor, Depends(get_predictor)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

# Declared as security schemes so that the OpenAPI page shows them (with an
# "Authorize" button); they only bite when API keys are set.
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key, when API_KEY is set."
)
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


async def require_api_key(
    request: Request,
    header_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """With API keys set (API_KEY, API_KEYS_FILE), refuse a request without
    one of them (401) or with one lacking the `score` scope (403); note the
    key's name for the request log."""
    _check_key(request, header_key, bearer, "score")


async def require_audit_key(
    request: Request,
    header_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """The record's routes: always a key with the `audit` scope (from
    API_KEYS_FILE), keys set or not: they hold patients' values."""
    _check_key(request, header_key, bearer, "audit")


def _check_key(
    request: Request,
    header_key: str | None,
    bearer: HTTPAuthorizationCredentials | None,
    scope: str,
) -> None:
    keys: ApiKeys = request.app.state.api_keys
    given = header_key if header_key is not None else (bearer.credentials if bearer else None)
    found = keys.identify(given) if given is not None else None
    if found is None:
        raise ApiError(UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    name, scopes = found
    request.scope.setdefault("state", {})["api_key_name"] = name  # read by RequestContext
    if scope not in scopes:
        raise ApiError(FORBIDDEN, f"This key lacks the '{scope}' scope this route needs.")
