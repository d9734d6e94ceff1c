"""The EHRs that may launch the risk page with SMART on FHIR
(`SMART_CLIENTS_FILE`): the client this service is registered as at each,
a JSON list of entries with the EHR's FHIR base URL (`iss`), the
`client_id`, optionally a `client_secret` (a confidential client, HTTP
Basic at the token endpoint) and the `scope` (DEFAULT_SCOPE otherwise);
docs/smart-launch.md has an example. Read at start-up and on SIGHUP
(`app.reload.RotatingFile`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.clinical.cds_clients import ClientsFileError, read_entries, secure_url
from app.reload import RotatingFile

DEFAULT_SCOPE = "launch openid fhirUser patient/Patient.rs patient/Observation.rs"
KEYS = frozenset({"iss", "client_id", "client_secret", "scope"})


@dataclass(frozen=True)
class SmartClient:
    """This service as registered at one EHR."""

    iss: str
    client_id: str
    client_secret: str | None = None
    scope: str = DEFAULT_SCOPE

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"SmartClient(iss={self.iss!r}, client_id={self.client_id!r})"


def same_iss(url: str) -> str:
    """An iss as compared: without a trailing slash."""
    return url.rstrip("/")


def read_smart_clients(path: Path) -> dict[str, SmartClient]:
    """{iss: SmartClient}; ClientsFileError names the entry that is wrong."""
    entries = read_entries(path, "SMART_CLIENTS_FILE")
    clients: dict[str, SmartClient] = {}
    for number, entry in enumerate(entries):
        client = _entry(entry, f"{path}, entry {number}")
        if client.iss in clients:
            raise ClientsFileError(f"{path}, entry {number}: {client.iss!r} is listed twice")
        clients[client.iss] = client
    return clients


def _entry(entry: Any, where: str) -> SmartClient:
    if not isinstance(entry, dict):
        raise ClientsFileError(f"{where}: each entry is an object with 'iss' and 'client_id'")
    unknown = set(entry) - KEYS
    if unknown:
        raise ClientsFileError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    if not secure_url(entry.get("iss")):
        raise ClientsFileError(
            f"{where}: 'iss' must be the EHR's FHIR base URL, https:// (or http:// on loopback), "
            "without query or fragment"
        )
    for key in ("client_id", "client_secret", "scope"):
        value = entry.get(key)
        if (value is not None or key == "client_id") and not (isinstance(value, str) and value):
            raise ClientsFileError(f"{where}: '{key}' must be a non-empty string")
    scope = entry.get("scope", DEFAULT_SCOPE)
    if "launch" not in scope.split():
        raise ClientsFileError(f"{where}: 'scope' must include 'launch' (an EHR launch)")
    return SmartClient(
        same_iss(entry["iss"]), entry["client_id"], entry.get("client_secret"), scope
    )


class SmartClients(RotatingFile[SmartClient]):
    """The SMART clients in force (`entries`, by iss; none while
    SMART_CLIENTS_FILE is unset)."""

    what = "SMART clients"

    def read(self, path: Path) -> dict[str, SmartClient]:
        return read_smart_clients(path)

    def get(self, iss: str) -> SmartClient | None:
        return self.entries.get(same_iss(iss))
