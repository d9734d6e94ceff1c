"""A test EHR on loopback, real parts only: it signs CDS Hooks JWTs with
PyJWT (ES384 or RS384 keys made by `cryptography`), serves its JWK Set, and
runs a FHIR R4 server built on fhir.resources (every resource it holds is
parsed by the R4B models; searches answer searchset Bundles).

    with FhirServer(resources) as fhir:   # http://127.0.0.1:<port>
        ... fhir.url, fhir.seen_tokens, fhir.fail = 500 ...
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, Self

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhir.resources.R4B import get_fhir_model_class
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISSUER = "https://ehr.example.org"


class SigningEhr:
    """An EHR's key pair, its JWK Set, and JWTs signed with it."""

    def __init__(self, iss: str = ISSUER, alg: str = "ES384", kid: str = "ehr-key-1") -> None:
        self.iss, self.alg, self.kid = iss, alg, kid
        if alg.startswith("ES"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1()}[alg]
            self.private: Any = ec.generate_private_key(curve)
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        key = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {"keys": [{**key, "kid": self.kid, "use": "sig", "alg": self.alg}]}

    def client_entry(self, jku: str | None = None) -> dict[str, Any]:
        """This EHR's entry in CDS_CLIENTS_FILE."""
        return {"iss": self.iss, "jku": jku} if jku else {"iss": self.iss, "jwks": self.jwks()}

    def token(self, aud: str, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A JWT for `aud`; `claims` override (a value None drops the claim)."""
        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "exp": now + 300, "iat": now,
                   "jti": str(uuid.uuid4()), **claims}  # fmt: skip
        payload = {k: v for k, v in payload.items() if v is not None}
        head = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(payload, self.private, algorithm=self.alg, headers=head)


class Loopback:
    """A Starlette app served by uvicorn in a thread, on a loopback port
    bound here and handed to uvicorn (no other process can take it between
    choosing it and serving on it)."""

    def __init__(self, app: Starlette) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


class JwksServer(Loopback):
    """Serves an EHR's JWK Set at /jwks.json; counts the fetches."""

    def __init__(self, ehr: SigningEhr) -> None:
        self.ehr, self.fetches = ehr, 0
        super().__init__(Starlette(routes=[Route("/jwks.json", self._jwks)]))
        self.jku = f"{self.url}/jwks.json"

    async def _jwks(self, request: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse(self.ehr.jwks())


class FhirServer(Loopback):
    """A FHIR R4 server holding `resources` (Patients and Observations):
    `GET /Patient/<id>` and `GET /Observation?patient=&code=a|x,b|y&status=...
    &_sort=-date&_count=1`. `fail` (a status) or `delay` (seconds) make every
    answer fail or come late, `redirect` (a URL) a 302 there, `oversize` (bytes)
    a Bundle that long; `seen_tokens` are the bearer tokens received."""

    def __init__(
        self, resources: Iterable[dict[str, Any]], routes: Iterable[Route] = (),
        tokens: set[str] | None = None,
    ) -> None:  # fmt: skip
        """`routes`: more to serve (a SMART configuration); `tokens`: the only
        bearer tokens accepted (else 401), None for any."""
        self.resources = [self._parsed(r) for r in resources]
        self.tokens = tokens
        self.seen_tokens: list[str] = []
        self._answers: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.fail: int | None = None
        self.delay = 0.0
        self.redirect: str | None = None
        self.oversize = 0
        super().__init__(Starlette(routes=[
            Route("/Patient/{pid}", self._read), Route("/Observation", self._search), *routes,
        ]))  # fmt: skip

    @staticmethod
    def _parsed(resource: dict[str, Any]) -> dict[str, Any]:
        model = get_fhir_model_class(resource["resourceType"])
        return model.model_validate(resource).model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]

    async def _before(self, request: Request) -> Response | None:
        self.requests += 1
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            self.seen_tokens.append(auth.removeprefix("Bearer "))
        if self.tokens is not None and auth.removeprefix("Bearer ") not in self.tokens:
            return _outcome(401, "login", "no valid bearer token")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            return _outcome(self.fail, "exception", "the test server was told to fail")
        if self.redirect:
            return Response(status_code=302, headers={"Location": self.redirect})
        if self.oversize:
            padded = b'{"resourceType": "Bundle"' + b" " * self.oversize + b"}"
            return Response(padded, media_type="application/fhir+json")
        return None

    async def _read(self, request: Request) -> Response:
        failed = await self._before(request)
        if failed:
            return failed
        pid = request.path_params["pid"]
        for r in self.resources:
            if r["resourceType"] == "Patient" and r["id"] == pid:
                return JSONResponse(r, media_type="application/fhir+json")
        return _outcome(404, "not-found", f"no Patient/{pid}")

    async def _search(self, request: Request) -> Response:
        failed = await self._before(request)
        if failed:
            return failed
        q = request.query_params
        key = str(request.url.query)
        if key not in self._answers:  # a search's answer is made once (fast for benchmarks)
            self._answers[key] = self._searched(q)
        return JSONResponse(self._answers[key], media_type="application/fhir+json")

    def _searched(self, q: Any) -> dict[str, Any]:
        codes = set(q.get("code", "").split(","))
        statuses = set(q.get("status", "final,amended,corrected").split(","))
        found = [
            r for r in self.resources
            if r["resourceType"] == "Observation"
            and r.get("subject", {}).get("reference") == f"Patient/{q.get('patient')}"
            and r["status"] in statuses
            and codes & {f"{c['system']}|{c['code']}" for c in r["code"]["coding"]}
        ]  # fmt: skip
        found.sort(key=lambda r: r.get("effectiveDateTime", ""), reverse=True)
        found = found[: int(q.get("_count", "100"))]
        bundle = get_fhir_model_class("Bundle").model_validate(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": [{"resource": r} for r in found],
            }
        )
        return bundle.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _outcome(status: int, code: str, text: str) -> JSONResponse:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}  # fmt: skip
    return JSONResponse(body, status_code=status, media_type="application/fhir+json")
