"""Which FHIR servers a CDS Hooks call may have the service read
(`fhir_servers` in CDS_CLIENTS_FILE): a server not allowed is never
fetched, its keys are reported unavailable (412, naming it) and the log
says why; no redirect is followed, no answer is read past its bound, and
the token goes only to an allowed server. On main at c58ae8a, a call naming
`http://127.0.0.1:8000/metrics?` made the service GET its own /metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.clinical.cds_clients import ClientsFileError, read_clients_file, under
from app.clinical.fhir_reads import MAX_ANSWER_BYTES
from app.config import Settings
from app.main import create_app
from tests.app.test_cds_hooks import SERVICE, charted, hook
from tests.app.test_cds_security import CALL, _clients_file
from tests.app.test_fhir_inputs import PATIENT, example_chart
from tests.app.test_prefetch import full_prefetch
from tests.ehr import FhirServer, SigningEhr

TOKEN = {"access_token": "fhir-token-for-the-ehr", "token_type": "Bearer", "expires_in": 300,
         "scope": "user/Observation.read", "subject": "cds"}  # fmt: skip
ALL_BUT_THAL = {k: v for k, v in full_prefetch().items() if k != "thal"}


def _chart() -> FhirServer:
    return FhirServer([PATIENT, *charted(*example_chart())])


def _refused(response: object, server: str) -> None:
    assert response.status_code == 412, response.text  # type: ignore[attr-defined]
    (detail,) = response.json()["error"]["details"]  # type: ignore[attr-defined]
    assert detail["field"] == "prefetch.thal"
    assert detail["message"].startswith(server.rstrip("/"))  # as the call named it
    assert detail["message"].endswith("is not allowed")


def test_without_a_clients_file_only_loopback_servers_are_read(
    shared_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = "https://fhir.clinic.internal/r4"
    with caplog.at_level(logging.WARNING):
        response = shared_client.post(SERVICE, json=hook(ALL_BUT_THAL, fhirServer=server))
    _refused(response, server)
    assert "not on loopback" in caplog.text


def test_a_url_with_a_query_is_never_fetched(shared_client: TestClient) -> None:
    """The attack of the issue: the service's own /metrics, its query
    swallowing the path the service appends."""
    with _chart() as fhir:
        server = f"{fhir.url}/metrics?"
        response = shared_client.post(SERVICE, json=hook(ALL_BUT_THAL, fhirServer=server))
        assert fhir.requests == 0
    _refused(response, server)


@pytest.fixture()
def allowing(
    artifact_path: Path, tmp_path: Path
) -> Iterator[tuple[TestClient, SigningEhr, FhirServer, FhirServer]]:
    """A service trusting one EHR, whose calls may name the first server only."""
    ehr = SigningEhr()
    with _chart() as allowed, _chart() as other:
        entry = {**ehr.client_entry(), "fhir_servers": [f"{allowed.url}/"]}
        path = _clients_file(tmp_path, entry)
        app = create_app(Settings(model_path=artifact_path, cds_clients_file=path))
        with TestClient(app) as client:
            yield client, ehr, allowed, other


def test_an_allowed_server_is_read_with_the_token_and_another_never_sees_it(
    allowing: tuple[TestClient, SigningEhr, FhirServer, FhirServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, ehr, allowed, other = allowing

    def call(server: str) -> object:
        body = hook(ALL_BUT_THAL, fhirServer=server, fhirAuthorization=TOKEN)
        signed = {"Authorization": f"Bearer {ehr.token(CALL)}"}
        return client.post(SERVICE, json=body, headers=signed)

    assert call(allowed.url).status_code == 200  # type: ignore[attr-defined]
    assert allowed.seen_tokens == [TOKEN["access_token"]]
    with caplog.at_level(logging.WARNING):
        _refused(call(other.url), other.url)
    assert other.requests == 0 and other.seen_tokens == []
    assert f"not under any of the fhir_servers listed for {ehr.iss}" in caplog.text


def test_an_entry_without_fhir_servers_has_prefetch_only(
    artifact_path: Path, tmp_path: Path
) -> None:
    ehr = SigningEhr()
    path = _clients_file(tmp_path, ehr.client_entry())
    app = create_app(Settings(model_path=artifact_path, cds_clients_file=path))
    with _chart() as fhir, TestClient(app) as client:
        body = hook(ALL_BUT_THAL, fhirServer=fhir.url)
        headers = {"Authorization": f"Bearer {ehr.token(CALL)}"}
        _refused(client.post(SERVICE, json=body, headers=headers), fhir.url)
        assert fhir.requests == 0
        full = hook(full_prefetch())
        assert client.post(SERVICE, json=full, headers={
            "Authorization": f"Bearer {ehr.token(CALL)}"}).status_code == 200  # fmt: skip


@pytest.mark.parametrize(
    ("url", "base", "inside"),
    [
        ("https://fhir.example.org/r4", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org/r4/", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org/r4/tenant", "https://fhir.example.org/r4/", True),
        ("https://fhir.example.org:443/r4", "https://fhir.example.org/r4", True),
        ("https://fhir.example.org/r4x", "https://fhir.example.org/r4", False),
        ("https://fhir.example.org/r3", "https://fhir.example.org/r4", False),
        ("http://fhir.example.org/r4", "https://fhir.example.org/r4", False),
        ("https://fhir.example.org:8443/r4", "https://fhir.example.org/r4", False),
        ("https://fhir.example.org.evil.net/r4", "https://fhir.example.org/r4", False),
    ],
)
def test_servers_match_on_scheme_host_port_and_path_prefix(
    url: str, base: str, inside: bool
) -> None:
    assert under(url, base) is inside


@pytest.mark.parametrize(
    "servers",
    [["http://fhir.example.org/r4"], ["https://fhir.example.org/r4?x=1"], "https://a.org"],
)
def test_a_clients_file_with_an_unsafe_fhir_server_is_refused(
    tmp_path: Path, servers: object
) -> None:
    entry = {**SigningEhr().client_entry(), "fhir_servers": servers}
    with pytest.raises(ClientsFileError, match="fhir_servers"):
        read_clients_file(_clients_file(tmp_path, entry))


@pytest.mark.parametrize("trouble", ["redirect", "oversize"])
def test_no_redirect_is_followed_and_no_answer_read_past_its_bound(
    shared_client: TestClient, trouble: str
) -> None:
    with _chart() as fhir, _chart() as elsewhere:
        if trouble == "redirect":
            fhir.redirect = f"{elsewhere.url}/Observation"
        else:
            fhir.oversize = MAX_ANSWER_BYTES + 1
        body = hook(ALL_BUT_THAL, fhirServer=fhir.url, fhirAuthorization=TOKEN)
        response = shared_client.post(SERVICE, json=body)
        assert elsewhere.requests == 0
    assert response.status_code == 412
    (detail,) = response.json()["error"]["details"]
    expected = {"redirect": "redirects are not followed", "oversize": "longer than"}
    assert expected[trouble] in detail["message"]
