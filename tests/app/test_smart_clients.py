"""SMART_CLIENTS_FILE: each entry checked with a message naming it, and read
again on SIGHUP, a file that cannot be used keeping the clients in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.clinical.cds_clients import ClientsFileError
from app.config import Settings
from app.page.smart_clients import DEFAULT_SCOPE, SmartClients, read_smart_clients

GOOD = {"iss": "https://fhir.ehr.example.org/r4/", "client_id": "heart-risk"}


def _file(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "smart-clients.json"
    path.write_text(json.dumps(entries))
    return path


def test_an_entry_gets_the_default_scope_and_its_iss_without_a_trailing_slash(
    tmp_path: Path,
) -> None:
    (client,) = read_smart_clients(_file(tmp_path, [GOOD])).values()
    assert client.iss == "https://fhir.ehr.example.org/r4" and client.scope == DEFAULT_SCOPE
    assert client.client_secret is None
    secret = read_smart_clients(_file(tmp_path, [{**GOOD, "client_secret": "s" * 20}]))
    assert "s" * 20 not in repr(secret)  # never in a log line


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({**GOOD, "iss": "http://fhir.example.org"}, "'iss' must be"),
        ({**GOOD, "iss": "https://fhir.example.org/?a=1"}, "'iss' must be"),
        ({"iss": GOOD["iss"]}, "'client_id' must be"),
        ({**GOOD, "client_secret": ""}, "'client_secret' must be"),
        ({**GOOD, "scope": "openid fhirUser"}, "must include 'launch'"),
        ({**GOOD, "jwks": {}}, "unknown keys ['jwks']"),
    ],
)
def test_a_wrong_entry_is_named(tmp_path: Path, entry: dict[str, Any], says: str) -> None:
    with pytest.raises(ClientsFileError, match="entry 0") as raised:
        read_smart_clients(_file(tmp_path, [entry]))
    assert says in str(raised.value)


def test_an_iss_twice_or_an_empty_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClientsFileError, match="listed twice"):
        read_smart_clients(_file(tmp_path, [GOOD, {**GOOD, "iss": GOOD["iss"].rstrip("/")}]))
    with pytest.raises(ClientsFileError, match="non-empty JSON list"):
        read_smart_clients(_file(tmp_path, []))


def test_reload_reads_the_file_again_and_a_bad_one_keeps_the_clients(tmp_path: Path) -> None:
    path = _file(tmp_path, [GOOD])
    clients = SmartClients(path)
    clients.load()
    other = {"iss": "https://other.example.org/fhir", "client_id": "x"}
    path.write_text(json.dumps([GOOD, other]))
    clients.reload()
    assert clients.get("https://other.example.org/fhir/") is not None
    path.write_text("not json")
    clients.reload()
    assert clients.get(other["iss"]) is not None and len(clients.entries) == 2


def test_smart_clients_need_a_public_base_url() -> None:
    with pytest.raises(ValueError, match="SMART_CLIENTS_FILE needs PUBLIC_BASE_URL"):
        Settings(smart_clients_file=Path("x.json"))
