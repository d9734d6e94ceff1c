"""The EHRs allowed to call the CDS Hooks routes (`CDS_CLIENTS_FILE`: a JSON
list of issuers, each with its public keys, inline or at an allowlisted
`jku`, and the FHIR servers its calls may name), and the check of the
signed JWT each call carries, as CDS Hooks 2.0 requires ("Trusting CDS
Clients"). The rules a call must meet: docs/clinical.md, "Security: the
EHR's signed JWT". Anything else raises `RefusedError` (401; the reason goes
to the log only). Read at start-up and on SIGHUP (`app.reload.RotatingFile`)."""

from __future__ import annotations

import heapq
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import jwt

from app.reload import RotatingFile

log = logging.getLogger("app")

ALGORITHMS = ("ES384", "RS384")
MAX_LIFETIME_SECONDS = 3600
JKU_CACHE_SECONDS = 300.0
JKU_TIMEOUT_SECONDS = 2.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


clock = time.monotonic
"""Seconds for the jku cache's age: a clock that only goes forward, from an
arbitrary start (on Linux, the host's boot: near zero on a fresh host)."""


class ClientsFileError(ValueError):
    """CDS_CLIENTS_FILE cannot be used; the message says where and why."""


class RefusedError(Exception):
    """A call whose JWT is not accepted; the message is for the log only."""


@dataclass
class Client:
    iss: str
    jwks: dict[str, Any] | None = None  # inline {"keys": [...]}
    jku: str | None = None
    fetched_at: float | None = None  # time.monotonic() of the last jku fetch; None: never
    fhir_servers: tuple[str, ...] | None = None  # the base URLs its calls may name; None: none


def secure_url(url: Any) -> bool:
    """Whether `url` is one the service may fetch from at all: https, or
    plain http to this machine only (tests); a plain base, with no query,
    fragment, credentials or dot segments."""
    if not isinstance(url, str) or "?" in url or "#" in url:
        return False
    parts = urlsplit(url)
    local = parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        return False
    dots = {".", ".."} & set(unquote(parts.path).split("/"))
    return parts.username is None and parts.password is None and not dots


def under(url: str, base: str) -> bool:
    """Whether `url` is `base` or below it: the same scheme, host and port,
    and a path that continues `base`'s at a segment boundary."""
    u, b = urlsplit(url), urlsplit(base)
    default = {"http": 80, "https": 443}
    if (u.scheme, u.hostname) != (b.scheme, b.hostname):
        return False
    if (u.port or default[u.scheme]) != (b.port or default[b.scheme]):
        return False
    path, prefix = u.path.rstrip("/"), b.path.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def read_entries(path: Path, setting: str) -> list[Any]:
    """The non-empty JSON list of the file `setting` names, or ClientsFileError."""
    try:
        entries = json.loads(path.read_text())
    except OSError as exc:
        raise ClientsFileError(f"{path}: cannot read {setting} ({exc.strerror})") from None
    except ValueError as exc:
        raise ClientsFileError(f"{path}: {setting} is not JSON ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise ClientsFileError(f"{path}: {setting} must be a non-empty JSON list of clients")
    return entries


def read_clients_file(path: Path) -> dict[str, Client]:
    """{iss: Client}; ClientsFileError names the entry that is wrong."""
    clients: dict[str, Client] = {}
    for number, entry in enumerate(read_entries(path, "CDS_CLIENTS_FILE")):
        where = f"{path}, entry {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str):
            raise ClientsFileError(f"{where}: each entry needs an 'iss' string")
        jwks, jku = entry.get("jwks"), entry.get("jku")
        if (jwks is None) == (jku is None):
            raise ClientsFileError(f"{where}: give exactly one of 'jwks' (inline keys) or 'jku'")
        if jwks is not None:
            _check_keys(jwks, where)
        if jku is not None and not secure_url(jku):
            raise ClientsFileError(
                f"{where}: 'jku' must be an https:// URL (or http:// on loopback)"
            )
        if entry["iss"] in clients:
            raise ClientsFileError(f"{where}: the issuer {entry['iss']!r} is listed twice")
        servers = _fhir_servers(entry.get("fhir_servers"), where)
        clients[entry["iss"]] = Client(entry["iss"], jwks, jku, fhir_servers=servers)
    return clients


def _fhir_servers(servers: Any, where: str) -> tuple[str, ...] | None:
    if servers is None:
        return None
    if not isinstance(servers, list) or not all(secure_url(u) for u in servers):
        raise ClientsFileError(
            f"{where}: 'fhir_servers' must be a list of base URLs, https:// (or http:// on "
            "loopback), without query or fragment"
        )
    return tuple(servers)


def _check_keys(jwks: Any, where: str) -> None:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ClientsFileError(f"{where}: 'jwks' must be a JWK Set, {{\"keys\": [...]}}")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            raise ClientsFileError(f"{where}: every key needs a 'kid'")
        try:
            jwt.PyJWK(key)
        except jwt.PyJWTError as exc:
            raise ClientsFileError(f"{where}: key {key['kid']!r} is not usable ({exc})") from None


class CdsClients(RotatingFile[Client]):
    """The clients in force (`entries`, by issuer), the replay cache, and
    the JWT check."""

    what = "CDS clients"

    def __init__(self, path: Path | None) -> None:
        super().__init__(path)
        self._seen: dict[tuple[str, str], float] = {}  # (iss, jti) -> exp
        self._expiries: list[tuple[float, tuple[str, str]]] = []  # a heap of (exp, (iss, jti))

    def read(self, path: Path) -> dict[str, Client]:
        return read_clients_file(path)

    def load(self) -> None:
        if self.path is None:
            log.warning(
                "CDS_CLIENTS_FILE is not set: CDS Hooks calls are accepted unsigned while no "
                "API key is set (local development only), and refused once one is"
            )
        super().load()

    def fhir_server_refusal(self, issuer: str | None, server: str) -> str | None:
        """Why a call from `issuer` (None when calls are unsigned) may not
        have `server` read, or None when it may: it must be under one of the
        issuer's `fhir_servers`; without CDS_CLIENTS_FILE, on loopback."""
        if not secure_url(server):
            return f"{server} is not an https:// base URL (or http:// on loopback) without query"
        if not self.enabled:
            if urlsplit(server).hostname in LOOPBACK_HOSTS:
                return None
            return f"{server} is not on loopback, and without CDS_CLIENTS_FILE only loopback is"
        client = self.entries.get(issuer or "")
        if client is None or client.fhir_servers is None:
            return f"{issuer}'s entry in CDS_CLIENTS_FILE lists no fhir_servers (prefetch only)"
        if any(under(server, base) for base in client.fhir_servers):
            return None
        return f"{server} is not under any of the fhir_servers listed for {issuer}"

    async def verify(self, authorization: str | None, audience: str) -> str:
        """The issuer of the call's JWT, or RefusedError saying why."""
        if not authorization or not authorization.startswith("Bearer "):
            raise RefusedError("no 'Authorization: Bearer <JWT>' header")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            header = jwt.get_unverified_header(token)
            claimed = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise RefusedError(f"not a JWT ({exc})") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise RefusedError(f"alg {alg!r} is not one of {', '.join(ALGORITHMS)}")
        client = self.entries.get(claimed.get("iss"))  # type: ignore[arg-type]
        if client is None:
            raise RefusedError(f"issuer {claimed.get('iss')!r} is not in CDS_CLIENTS_FILE")
        if client.jku is not None and header.get("jku", client.jku) != client.jku:
            raise RefusedError(f"jku {header['jku']!r} is not the one allowlisted for {client.iss}")
        key = await self._key(client, kid, alg)
        return self._checked(token, key, alg, client, audience)

    async def _key(self, client: Client, kid: Any, alg: str) -> Any:
        if not isinstance(kid, str):
            raise RefusedError("no 'kid' in the JWT header")
        if client.jku is not None and _stale(client.fetched_at):  # keys rotate at the jku
            client.jwks = await self._fetch(client)
        found = _find(client.jwks, kid)
        if found is None:
            raise RefusedError(f"kid {kid!r} is not among {client.iss}'s keys")
        if found.get("alg", alg) != alg:
            raise RefusedError(f"key {kid!r} is for {found['alg']}, the JWT says {alg}")
        try:
            return jwt.PyJWK(found).key
        except jwt.PyJWTError as exc:
            raise RefusedError(f"key {kid!r} is not usable ({exc})") from None

    async def _fetch(self, client: Client) -> dict[str, Any]:
        assert client.jku is not None
        try:
            async with httpx.AsyncClient(timeout=JKU_TIMEOUT_SECONDS) as http:
                response = await http.get(client.jku)
            response.raise_for_status()
            jwks = response.json()
            _check_keys(jwks, client.jku)
        except (httpx.HTTPError, ValueError) as exc:
            raise RefusedError(
                f"cannot fetch {client.iss}'s keys from {client.jku} ({exc})"
            ) from None
        client.fetched_at = clock()
        return jwks  # type: ignore[no-any-return]

    def _checked(self, token: str, key: Any, alg: str, client: Client, audience: str) -> str:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=client.iss,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise RefusedError(f"{type(exc).__name__}: {exc}") from None
        if claims["exp"] - claims["iat"] > MAX_LIFETIME_SECONDS:
            raise RefusedError(f"lives longer than {MAX_LIFETIME_SECONDS} s (exp - iat)")
        self._forget_expired(time.time())
        seen = (client.iss, str(claims["jti"]))
        if seen in self._seen:
            raise RefusedError(f"jti {claims['jti']!r} was used before (a replay)")
        self._seen[seen] = float(claims["exp"])
        heapq.heappush(self._expiries, (float(claims["exp"]), seen))
        return client.iss

    def _forget_expired(self, now: float) -> None:
        """Drop the jtis whose JWT has expired (it would be refused anyway)."""
        while self._expiries and self._expiries[0][0] <= now:
            _, seen = heapq.heappop(self._expiries)
            self._seen.pop(seen, None)


def _stale(fetched_at: float | None) -> bool:
    """Whether keys fetched at `fetched_at` (`clock()`, None when never
    fetched) must be fetched again; "never" is not "at 0.0", which a host
    booted a minute ago has only just passed."""
    return fetched_at is None or clock() - fetched_at > JKU_CACHE_SECONDS


def _find(jwks: dict[str, Any] | None, kid: str) -> dict[str, Any] | None:
    for key in (jwks or {}).get("keys", []):
        if key.get("kid") == kid:
            return key  # type: ignore[no-any-return]
    return None
