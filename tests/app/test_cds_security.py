"""CDS Hooks security (CDS_CLIENTS_FILE): a test EHR signs real ES384 and
RS384 JWTs with PyJWT (tests/ehr.py); every refusal the spec asks for is a
401 whose reason is in the log and never in the answer; the issuer's name
goes into the request's log line; the clients rotate on reload."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.app.test_cds_hooks import SERVICE, hook
from tests.app.test_keys import _request_lines
from tests.app.test_prefetch import full_prefetch
from tests.conftest import Server
from tests.ehr import JwksServer, SigningEhr

BASE = "http://testserver"
CALL = f"{BASE}{SERVICE}"


@pytest.fixture(scope="module")
def ehr() -> SigningEhr:
    return SigningEhr()


def _clients_file(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "cds-clients.json"
    path.write_text(json.dumps(list(entries)))
    return path


@pytest.fixture()
def secured(artifact_path: Path, tmp_path: Path, ehr: SigningEhr) -> Iterator[TestClient]:
    path = _clients_file(tmp_path, ehr.client_entry())
    app = create_app(Settings(model_path=artifact_path, cds_clients_file=path))
    with TestClient(app) as client:
        yield client


def _call(client: TestClient, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(SERVICE, json=hook(full_prefetch()), headers=headers)


def test_a_signed_call_and_discovery_are_answered_and_the_issuer_logged(
    secured: TestClient, ehr: SigningEhr, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    assert _call(secured, ehr.token(CALL)).status_code == 200
    discovery = secured.get(
        "/cds-services", headers={"Authorization": f"Bearer {ehr.token(f'{BASE}/cds-services')}"}
    )
    assert discovery.status_code == 200
    feedback = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z"}
        ]
    }
    token = ehr.token(f"{CALL}/feedback")
    assert (
        secured.post(
            f"{SERVICE}/feedback", json=feedback, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert secured.get("/cds-services").status_code == 401  # discovery needs a JWT too
    secured.app.state.telemetry.flush()  # type: ignore[attr-defined]
    lines = _request_lines(capfd.readouterr().err)
    assert [line["cds_issuer"] for line in lines] == [ehr.iss, ehr.iss, ehr.iss, None]


def test_an_rs384_client_is_accepted(artifact_path: Path, tmp_path: Path) -> None:
    rsa_ehr = SigningEhr(iss="https://rsa-ehr.example.org", alg="RS384")
    path = _clients_file(tmp_path, rsa_ehr.client_entry())
    with TestClient(create_app(Settings(model_path=artifact_path, cds_clients_file=path))) as c:
        assert _call(c, rsa_ehr.token(CALL)).status_code == 200


def _hmac_token(ehr: SigningEhr) -> str:
    now = int(time.time())
    claims = {"iss": ehr.iss, "aud": CALL, "exp": now + 60, "iat": now, "jti": "h"}
    secret = "a-shared-secret-long-enough-for-hs384-0123456789abcdef"
    return jwt.encode(claims, secret, algorithm="HS384", headers={"kid": ehr.kid})


def _none_token(ehr: SigningEhr) -> str:
    now = int(time.time())
    claims = {"iss": ehr.iss, "aud": CALL, "exp": now + 60, "iat": now, "jti": "n"}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": ehr.kid})


EVIL = "https://evil.example.org"
NOW = int(time.time())
REFUSALS: dict[str, tuple[Callable[[SigningEhr], str | None], str | None]] = {
    "no-header": (lambda e: None, "no 'Authorization: Bearer"),
    "not-a-jwt": (lambda e: "not.a.jwt", "not a JWT"),
    "alg-none": (_none_token, "alg 'none'"),
    "alg-hmac": (_hmac_token, "alg 'HS384'"),
    "alg-es256": (lambda e: SigningEhr(alg="ES256").token(CALL), "alg 'ES256'"),
    "unknown-kid": (lambda e: e.token(CALL, headers={"kid": "other"}), "kid 'other'"),
    "no-kid": (lambda e: jwt.encode({"iss": e.iss}, e.private, algorithm="ES384"), "no 'kid'"),
    "other-key": (lambda e: SigningEhr().token(CALL), "InvalidSignatureError"),
    "unknown-iss": (lambda e: e.token(CALL, iss=EVIL), "not in CDS_CLIENTS_FILE"),
    "wrong-aud": (lambda e: e.token(f"{BASE}/cds-services/other"), "InvalidAudienceError"),
    "expired": (lambda e: e.token(CALL, exp=NOW - 5, iat=NOW - 60), "ExpiredSignatureError"),
    "no-exp": (lambda e: e.token(CALL, exp=None), "MissingRequiredClaimError"),
    "no-iat": (lambda e: e.token(CALL, iat=None), "MissingRequiredClaimError"),
    "no-jti": (lambda e: e.token(CALL, jti=None), "MissingRequiredClaimError"),
    "too-long-lived": (lambda e: e.token(CALL, exp=int(time.time()) + 7200), "lives longer"),
    "foreign-jku": (lambda e: e.token(CALL, headers={"jku": f"{EVIL}/jwks"}), None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_401_with_the_reason_only_in_the_log(
    secured: TestClient, ehr: SigningEhr, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, reason = REFUSALS[case]
    with caplog.at_level(logging.WARNING, logger="app"):
        response = _call(secured, make(ehr))
    if case == "foreign-jku":  # inline keys: a jku header is never fetched, the keys decide
        assert response.status_code == 200
        return
    assert response.status_code == 401, case
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()["error"]
    assert body["code"] == "cds_unauthorized" and body["details"] == []
    assert reason is not None and reason in caplog.text, caplog.text
    assert reason not in response.text


def test_a_replayed_jti_is_refused(
    secured: TestClient, ehr: SigningEhr, caplog: pytest.LogCaptureFixture
) -> None:
    token = ehr.token(CALL)
    assert _call(secured, token).status_code == 200
    with caplog.at_level(logging.WARNING, logger="app"):
        assert _call(secured, token).status_code == 401
    assert "a replay" in caplog.text


def test_the_audience_is_the_public_url_when_set(
    artifact_path: Path, tmp_path: Path, ehr: SigningEhr
) -> None:
    path = _clients_file(tmp_path, ehr.client_entry())
    settings = Settings(model_path=artifact_path, cds_clients_file=path,
                        public_base_url="https://risk.example.org/")  # fmt: skip
    with TestClient(create_app(settings)) as client:
        assert _call(client, ehr.token(CALL)).status_code == 401
        public = _call(client, ehr.token(f"https://risk.example.org{SERVICE}"))
        assert public.status_code == 200
        assert public.json()["cards"][0]["source"]["url"] == "https://risk.example.org/model"
        list_aud = ehr.token([f"https://risk.example.org{SERVICE}"])  # type: ignore[arg-type]
        assert _call(client, list_aud).status_code == 200


def test_keys_at_an_allowlisted_jku_are_fetched_and_cached(
    artifact_path: Path, tmp_path: Path
) -> None:
    ehr = SigningEhr(iss="https://jku-ehr.example.org")
    with JwksServer(ehr) as jwks:
        path = _clients_file(tmp_path, ehr.client_entry(jku=jwks.jku))
        with TestClient(create_app(Settings(model_path=artifact_path, cds_clients_file=path))) as c:
            assert _call(c, ehr.token(CALL, headers={"jku": jwks.jku})).status_code == 200
            assert _call(c, ehr.token(CALL)).status_code == 200
            assert jwks.fetches == 1  # cached
            other = ehr.token(CALL, headers={"jku": "https://evil.example.org/jwks.json"})
            assert _call(c, other).status_code == 401


def test_jku_keys_are_fetched_on_a_host_booted_seconds_ago(
    artifact_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monotonic clock counts from boot: at 3 s after it, keys never
    fetched must not look fetched at 0.0 and fresh (every jku EHR was refused
    for the first JKU_CACHE_SECONDS after a boot); and they expire by it."""
    from app.clinical import cds_clients

    now = [3.0]
    monkeypatch.setattr(cds_clients, "clock", lambda: now[0])
    ehr = SigningEhr(iss="https://jku-ehr.example.org")
    with JwksServer(ehr) as jwks:
        path = _clients_file(tmp_path, ehr.client_entry(jku=jwks.jku))
        with TestClient(create_app(Settings(model_path=artifact_path, cds_clients_file=path))) as c:
            assert _call(c, ehr.token(CALL)).status_code == 200
            assert jwks.fetches == 1
            now[0] += cds_clients.JKU_CACHE_SECONDS - 1
            assert _call(c, ehr.token(CALL)).status_code == 200
            assert jwks.fetches == 1  # still fresh
            now[0] += 2
            assert _call(c, ehr.token(CALL)).status_code == 200
            assert jwks.fetches == 2  # stale: fetched again


@pytest.mark.parametrize(
    ("content", "says"),
    [("[]", "non-empty"), ('[{"iss": "x"}]', "exactly one of"),
     ('[{"iss": "x", "jku": "http://evil.example.org/k"}]', "https://"),
     ('[{"iss": "x", "jwks": {"keys": [{"kty": "EC"}]}}]', "'kid'"), ("{", "not JSON")],
)  # fmt: skip
def test_a_bad_clients_file_stops_the_start_with_one_line(
    artifact_path: Path, tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(content)
    app = create_app(Settings(model_path=artifact_path, cds_clients_file=path))
    with pytest.raises(Exception, match=says), TestClient(app):
        pass


def test_without_the_file_calls_are_unsigned_with_a_warning_at_start(
    artifact_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="app"),
        TestClient(create_app(Settings(model_path=artifact_path))) as c,
    ):
        assert _call(c, None).status_code == 200
    assert "CDS_CLIENTS_FILE is not set" in caplog.text


def test_clients_rotate_on_reload_and_a_bad_file_keeps_them(
    artifact_path: Path, tmp_path: Path, ehr: SigningEhr
) -> None:
    newcomer = SigningEhr(iss="https://new-ehr.example.org")
    path = _clients_file(tmp_path, ehr.client_entry())
    app = create_app(Settings(model_path=artifact_path, cds_clients_file=path))
    with TestClient(app) as client:
        assert _call(client, newcomer.token(CALL)).status_code == 401
        _clients_file(tmp_path, newcomer.client_entry())
        app.state.cds_clients.reload()
        assert _call(client, newcomer.token(CALL)).status_code == 200
        assert _call(client, ehr.token(CALL)).status_code == 401
        path.write_text("not json")
        app.state.cds_clients.reload()
        assert _call(client, newcomer.token(CALL)).status_code == 200


@pytest.mark.slow  # a real server
def test_clients_rotate_on_sighup(
    tmp_path: Path, ehr: SigningEhr, live_server: Callable[..., AbstractContextManager[Server]]
) -> None:
    newcomer = SigningEhr(iss="https://new-ehr.example.org")
    path = _clients_file(tmp_path, ehr.client_entry())
    with live_server(CDS_CLIENTS_FILE=str(path)) as server:

        def status(signer: SigningEhr) -> int:
            token = signer.token(f"{server.url}/cds-services")
            return httpx.get(
                f"{server.url}/cds-services", headers={"Authorization": f"Bearer {token}"}
            ).status_code

        assert (status(ehr), status(newcomer)) == (200, 401)
        _clients_file(tmp_path, newcomer.client_entry())
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while status(newcomer) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (status(ehr), status(newcomer)) == (401, 200)
