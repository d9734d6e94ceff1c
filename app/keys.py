"""API keys: `API_KEY` (one key, named "default") and/or `API_KEYS_FILE`
(one named key per line, `name key [scopes]`; blank lines and `#` comments
skipped). Scopes, comma-separated: `score` (the scoring routes; the default,
and API_KEY's) and `audit` (the record and monitoring routes, which hold
patients' values: only a key given that scope reads them).

The file is read at start-up and again on SIGHUP (with the model,
`app.reload`), so keys rotate without a restart; a file that cannot be read
or holds a malformed line leaves the keys in force and says why. The name
of the key a request used goes into its log line; the key never does.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path

from pydantic import SecretStr

from app.config import MIN_KEY_LENGTH
from app.reload import RotatingFile

_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class KeyFileError(ValueError):
    """The keys file cannot be used; the message says where and why."""


SCOPES = frozenset({"score", "audit"})
DEFAULT_SCOPES = frozenset({"score"})


def read_keys_file(path: Path) -> dict[str, tuple[bytes, frozenset[str]]]:
    """{name: (key, scopes)} from the file; KeyFileError names the line that is wrong."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the API keys file ({exc.strerror})") from None
    keys: dict[str, tuple[bytes, frozenset[str]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        short = len(parts) > 1 and len(parts[1]) < MIN_KEY_LENGTH
        if len(parts) not in (2, 3) or not _NAME.fullmatch(parts[0]) or short:
            raise KeyFileError(
                f"{path}, line {number}: expected 'name key [scopes]' (name of letters, digits "
                f"and ._:-, key of at least {MIN_KEY_LENGTH} characters, scopes like score,audit)"
            )
        scopes = frozenset(parts[2].split(",")) if len(parts) == 3 else DEFAULT_SCOPES
        if not scopes <= SCOPES:
            unknown = ", ".join(sorted(scopes - SCOPES))
            raise KeyFileError(f"{path}, line {number}: unknown scope {unknown} (score, audit)")
        if parts[0] in keys:
            raise KeyFileError(f"{path}, line {number}: the name {parts[0]!r} is used twice")
        keys[parts[0]] = (parts[1].encode(), scopes)
    if not keys:
        raise KeyFileError(f"{path}: no key in the API keys file")
    return keys


class ApiKeys(RotatingFile[tuple[bytes, frozenset[str]]]):
    """The keys in force, and which one (by name) a presented key is."""

    what = "API keys"

    def __init__(self, single: SecretStr | None, path: Path | None) -> None:
        """`single`: API_KEY (named "default"); `path`: API_KEYS_FILE."""
        super().__init__(path)
        self.single = single.get_secret_value().encode() if single is not None else None

    def read(self, path: Path) -> dict[str, tuple[bytes, frozenset[str]]]:
        return read_keys_file(path)

    @property
    def enabled(self) -> bool:
        return self.single is not None or self.path is not None

    def identify(self, given: str) -> tuple[str, frozenset[str]] | None:
        """(name, scopes) of the key `given`, or None; compared in constant time."""
        presented = given.encode()
        found = None
        candidates = list(self.entries.items())
        if self.single is not None:
            candidates.append(("default", (self.single, DEFAULT_SCOPES)))
        for name, (key, scopes) in candidates:  # no early exit: the time does not tell which
            if hmac.compare_digest(presented, key):
                found = (name, scopes)
        return found
