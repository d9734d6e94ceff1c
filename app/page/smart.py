"""SMART App Launch 2.x (STU 2.2), EHR launch, as a confidential or public
client run on the server: discovery, the authorization redirect with PKCE
(S256 only), the code exchange and the refresh.

Every URL fetched is the launch's `iss` (listed in SMART_CLIENTS_FILE) or an
endpoint its `.well-known/smart-configuration` names, which must be https
(or http on loopback); no redirect is followed and no answer longer than
MAX_ANSWER_BYTES is read. Tokens go to the token endpoint and the FHIR
server only: never to the browser, never to a log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from app.clinical.cds_clients import secure_url
from app.clinical.fhir_reads import TooLongError, capped_body
from app.page.sessions import LAUNCH_SECONDS, Launch, Session, clock, new_id
from app.page.smart_clients import SmartClient

log = logging.getLogger("app")

MAX_ANSWER_BYTES = 64 * 1024
"""The longest discovery document or token answer read."""
DEFAULT_TOKEN_SECONDS = 300.0
"""An access token's lifetime when the answer gives no expires_in (RFC 6749 5.1)."""


class SmartError(Exception):
    """A launch that cannot go on; the message is for the log (no secret in it)."""


@dataclass(frozen=True)
class Configuration:
    """What `{iss}/.well-known/smart-configuration` says that a launch uses."""

    authorization_endpoint: str
    token_endpoint: str
    issuer: str | None


class Smart:
    """The service's SMART client: one HTTP client per worker, closed with the app."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    async def discover(self, iss: str) -> Configuration:
        """The EHR's endpoints; SmartError unless it offers PKCE with S256."""
        found = await self._json("GET", f"{iss}/.well-known/smart-configuration")
        methods = found.get("code_challenge_methods_supported")
        if not isinstance(methods, list) or "S256" not in methods:
            raise SmartError(f"{iss} does not offer PKCE with S256 (code_challenge_methods_"
                             f"supported: {methods!r})")  # fmt: skip
        authorize, token = (found.get(k) for k in ("authorization_endpoint", "token_endpoint"))
        for url in (authorize, token):
            if not secure_url(url):
                raise SmartError(f"{iss} names an endpoint that is not https:// (or http:// on "
                                 f"loopback) without query: {url!r}")  # fmt: skip
        issuer = found.get("issuer")
        return Configuration(authorize, token, issuer if isinstance(issuer, str) else None)

    async def exchange(self, launch: Launch, code: str, redirect_uri: str) -> Session:
        """The session the authorization code `code` opens (RFC 6749 4.1.3,
        RFC 7636 4.5): SmartError unless the answer is a Bearer token with a
        `patient` in context."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": launch.verifier}  # fmt: skip
        answer = await self._token(launch.client, launch.token_endpoint, form)
        patient = answer.get("patient")
        if not isinstance(patient, str) or not patient:
            raise SmartError(f"{launch.client.iss}'s token answer names no patient in context")
        caller = _fhir_user(answer.get("id_token"), launch) or launch.client.iss
        session = Session(launch.client.iss, launch.client, launch.token_endpoint, "", 0.0,
                          patient, caller)  # fmt: skip
        _take_tokens(session, answer)
        return session

    async def refresh(self, session: Session) -> bool:
        """Renew `session`'s access token with its refresh token (RFC 6749 6);
        False when it has none or the EHR refuses (the reason is logged)."""
        if session.refresh_token is None:
            return False
        form = {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
        try:
            answer = await self._token(session.client, session.token_endpoint, form)
        except SmartError as exc:
            log.warning("SMART refresh for %s refused: %s", session.iss, exc)
            session.refresh_token = None
            return False
        _take_tokens(session, answer)
        return True

    async def _token(self, client: SmartClient, endpoint: str, form: dict[str, str]) -> Any:
        auth = None
        if client.client_secret is not None:  # confidential: HTTP Basic (RFC 6749 2.3.1)
            auth = httpx.BasicAuth(client.client_id, client.client_secret)
        else:
            form = {**form, "client_id": client.client_id}
        return await self._json("POST", endpoint, data=form, auth=auth)

    async def _json(
        self, method: str, url: str, data: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> Any:  # fmt: skip
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        headers = {"Accept": "application/json"}
        try:
            async with self._http.stream(method, url, data=data, auth=auth,
                                         headers=headers) as response:  # fmt: skip
                body = await capped_body(response, MAX_ANSWER_BYTES)
        except TooLongError:
            raise SmartError(f"{url} answered more than {MAX_ANSWER_BYTES} bytes") from None
        except httpx.HTTPError as exc:
            raise SmartError(f"{url} cannot be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise SmartError(f"{url} answered {response.status_code}: {_oauth_error(body)}")
        try:
            found = json.loads(body)
        except ValueError:
            raise SmartError(f"{url} answered something that is not JSON") from None
        if not isinstance(found, dict):
            raise SmartError(f"{url} answered JSON that is not an object")
        return found

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def pkce() -> tuple[str, str]:
    """A PKCE verifier (256 random bits) and its S256 challenge (RFC 7636 4.1-4.2)."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(config: Configuration, launch: Launch, challenge: str, launch_id: str,
                  redirect_uri: str) -> str:  # fmt: skip
    """Where the browser goes to authorize (app-launch.md, "Obtain authorization code")."""
    query = {
        "response_type": "code",
        "client_id": launch.client.client_id,
        "redirect_uri": redirect_uri,
        "launch": launch_id,
        "scope": launch.client.scope,
        "state": launch.state,
        "aud": launch.client.iss,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    sep = "&" if "?" in config.authorization_endpoint else "?"
    return f"{config.authorization_endpoint}{sep}{urlencode(query)}"


def new_launch(browser: str, client: SmartClient, config: Configuration) -> tuple[Launch, str]:
    """A launch for `browser` and the PKCE challenge to send with it."""
    verifier, challenge = pkce()
    launch = Launch(browser, new_id(), verifier, client, config.token_endpoint,
                    config.issuer, clock() + LAUNCH_SECONDS)  # fmt: skip
    return launch, challenge


def _oauth_error(body: bytes) -> str:
    """The OAuth error code of a refusal (RFC 6749 5.2), never its whole body."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if isinstance(error, str) else "no OAuth error code"


def _take_tokens(session: Session, answer: dict[str, Any]) -> None:
    """Put a token answer's tokens in `session`: SmartError unless Bearer."""
    token, kind = answer.get("access_token"), answer.get("token_type")
    if not isinstance(token, str) or not token:
        raise SmartError(f"{session.iss}'s token answer has no access_token")
    if not isinstance(kind, str) or kind.lower() != "bearer":  # case-insensitive: RFC 6749 5.1
        raise SmartError(f"{session.iss}'s token_type is {kind!r}, not Bearer")
    lifetime = answer.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) else DEFAULT_TOKEN_SECONDS
    session.access_token, session.expires = token, clock() + seconds
    refresh = answer.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        session.refresh_token = refresh


def _fhir_user(id_token: Any, launch: Launch) -> str | None:
    """The `fhirUser` of the launch's id_token, or None. The token came
    straight from the token endpoint over the back channel, so its origin is
    the endpoint's (OpenID Connect Core 3.1.3.7, item 6); its audience, issuer
    and expiry are still checked."""
    if not isinstance(id_token, str):
        return None
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False, "verify_aud": False})
    except jwt.PyJWTError:
        log.warning("SMART launch from %s: the id_token is not a JWT", launch.client.iss)
        return None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    expired = not isinstance(claims.get("exp"), int | float) or claims["exp"] < clock()
    wrong_issuer = launch.issuer is not None and claims.get("iss") != launch.issuer
    if launch.client.client_id not in audiences or expired or wrong_issuer:
        log.warning(
            "SMART launch from %s: id_token not for this client, expired, or from another "
            "issuer; the launch's iss is recorded instead",
            launch.client.iss,
        )
        return None
    user = claims.get("fhirUser")
    return user if isinstance(user, str) and user else None
