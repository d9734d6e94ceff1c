"""A test EHR for SMART App Launch 2.x on loopback, real parts only: a FHIR
server (`tests.ehr.FhirServer`, the launch's iss) that serves
`.well-known/smart-configuration` and accepts only the tokens issued, and
an OAuth 2.0 authorization server that checks every parameter the spec
requires (app-launch.md, STU 2.2) and writes down each one missing or wrong
in `problems`:

    with SmartEhr([PATIENT, *observations]) as ehr:
        ehr.iss, ehr.launch_id(), ehr.problems, ehr.expire_tokens(), ...

Authorization: response_type=code, the registered client_id and
redirect_uri, a launch it issued, a scope with `launch`, a state of at
least 128 bits, aud = iss, PKCE S256 (plain is refused). Token: the code
once, its redirect_uri, the verifier of its challenge, the client's
authentication (HTTP Basic for a confidential client, client_id for a
public one); the refresh_token grant likewise.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterable
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.ehr import FhirServer, Loopback

CLIENT_ID = "heart-risk-page"
USER = "Practitioner/dr-ada"


class SmartEhr:
    """The FHIR server and the authorization server of one EHR."""

    def __init__(
        self,
        resources: Iterable[dict[str, Any]],
        patient: str = "p1",
        client_secret: str | None = None,
    ) -> None:
        self.patient, self.client_secret = patient, client_secret
        self.redirect_uri = ""  # set by the test: PUBLIC_BASE_URL + /smart/callback
        self.problems: list[str] = []
        self.methods = ["S256"]  # code_challenge_methods_supported
        self.omit_patient = False
        self.grant_refresh = True
        self.lifetime = 3600
        self.launches: set[str] = set()
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: set[str] = set()
        self.token_requests: list[dict[str, Any]] = []
        self.refreshes = 0
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fhir = FhirServer(
            resources,
            [Route("/.well-known/smart-configuration", self._configuration)],
            tokens=set(),
        )
        self.auth = Loopback(
            Starlette(
                routes=[
                    Route("/authorize", self._authorize),
                    Route("/token", self._token, methods=["POST"]),
                ]
            )
        )

    @property
    def iss(self) -> str:
        return self.fhir.url

    def __enter__(self) -> Self:
        self.fhir.__enter__()
        self.auth.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.auth.__exit__(*exc)
        self.fhir.__exit__(*exc)

    def launch_id(self) -> str:
        """A launch value, as the EHR puts in the launch URL."""
        launch = secrets.token_urlsafe(16)
        self.launches.add(launch)
        return launch

    def launch_url(self, service: str) -> str:
        return f"{service}/smart/launch?" + urlencode({"iss": self.iss, "launch": self.launch_id()})

    def client_entry(self) -> dict[str, Any]:
        """This EHR's entry in SMART_CLIENTS_FILE."""
        entry = {"iss": self.iss, "client_id": CLIENT_ID}
        return {**entry, "client_secret": self.client_secret} if self.client_secret else entry

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (FHIR answers 401)."""
        assert self.fhir.tokens is not None
        self.fhir.tokens.clear()

    async def _configuration(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.auth.url,
                "authorization_endpoint": f"{self.auth.url}/authorize",
                "token_endpoint": f"{self.auth.url}/token",
                "code_challenge_methods_supported": self.methods,
                "capabilities": [
                    "launch-ehr",
                    "client-public",
                    "client-confidential-symmetric",
                    "context-ehr-patient",
                    "sso-openid-connect",
                    "permission-v2",
                ],
            }
        )

    def _wrong(self, problem: str) -> None:
        self.problems.append(problem)

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != self.redirect_uri:
            self._wrong(
                f"client_id {q.get('client_id')!r} or redirect_uri {q.get('redirect_uri')!r}"
            )
            return PlainTextResponse("unknown client or redirect_uri", status_code=400)
        checks = {
            "response_type": q.get("response_type") == "code",
            "launch": q.get("launch") in self.launches,
            "scope": "launch" in q.get("scope", "").split(),
            "state": len(q.get("state", "")) >= 22,  # 128 bits of base64url
            "aud": q.get("aud") == self.iss,
            "code_challenge_method": q.get("code_challenge_method") == "S256",
            "code_challenge": len(q.get("code_challenge", "")) == 43,
        }
        wrong = [name for name, ok in checks.items() if not ok]
        if wrong:
            self._wrong(f"authorize: {', '.join(wrong)}")
            return self._back({"error": "invalid_request", "state": q.get("state", "")})
        self.launches.discard(q["launch"])  # a launch is used once
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "used": False,
        }
        return self._back({"code": code, "state": q["state"]})

    def _back(self, query: dict[str, str]) -> Response:
        return RedirectResponse(f"{self.redirect_uri}?{urlencode(query)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            self._wrong("token: not a form post")
        form = dict(parse_qsl((await request.body()).decode()))
        self.token_requests.append({**form, "authorization": request.headers.get("authorization")})
        if not self._client_authenticated(request, form):
            self._wrong("token: client authentication")
            return _error("invalid_client", 401)
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _error("invalid_grant")
            self.refreshes += 1
            return self._tokens(refresh=form["refresh_token"])
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type")
        issued = self.codes.get(form.get("code", ""))
        if issued is None or issued["used"]:
            self._wrong("token: a code unknown or used before")
            return _error("invalid_grant")
        issued["used"] = True
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != issued["challenge"]:
            self._wrong("token: the code_verifier does not match the challenge")
            return _error("invalid_grant")
        if form.get("redirect_uri") != issued["redirect_uri"]:
            self._wrong("token: redirect_uri")
            return _error("invalid_grant")
        return self._tokens()

    def _client_authenticated(self, request: Request, form: dict[str, Any]) -> bool:
        if self.client_secret is None:
            return form.get("client_id") == CLIENT_ID and "authorization" not in request.headers
        basic = base64.b64encode(f"{CLIENT_ID}:{self.client_secret}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {basic}"

    def _tokens(self, refresh: str | None = None) -> JSONResponse:
        token = secrets.token_urlsafe(24)
        assert self.fhir.tokens is not None
        self.fhir.tokens.add(token)
        now = int(time.time())
        id_token = jwt.encode(
            {
                "iss": self.auth.url,
                "sub": "dr-ada",
                "aud": CLIENT_ID,
                "exp": now + 300,
                "iat": now,
                "fhirUser": f"{self.iss}/{USER}",
            },
            self.key,
            algorithm="RS256",
        )
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": "launch openid fhirUser patient/Patient.rs patient/Observation.rs",
            "id_token": id_token,
        }
        if not self.omit_patient:
            answer["patient"] = self.patient
        if self.grant_refresh:
            answer["refresh_token"] = refresh or secrets.token_urlsafe(24)
            self.refresh_tokens.add(answer["refresh_token"])
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})


def _error(code: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status)
