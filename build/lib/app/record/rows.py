"""One row of the record (`Row`), its time-ordered id (`uuid7`), its
place in the hash chain (`row_hash`), and how its stored values and answer
read back (`values_of`, `answer_of`)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any, NamedTuple

GENESIS = "0" * 64  # the previous hash of the first row
HASHED = "hmac-sha256:"  # AUDIT_INPUTS=hash: `inputs` is this and the digest's hex
_CANONICAL = json.JSONEncoder(separators=(",", ":"))  # json.dumps(row, separators=...), built once


class Row(NamedTuple):
    """One answer (one patient), as recorded."""

    id: str  # UUIDv7: time-ordered
    request_id: str | None
    received_at: float  # seconds since the epoch
    answered_at: float
    route: str
    model_version: str | None
    artifact_sha256: str | None
    caller: str | None  # the API key's name or the JWT's issuer, never a secret
    status: int
    error_code: str | None
    inputs: str | None  # JSON of the patient's fields
    outputs: str | None  # the answer's JSON, as sent


_last_uuid = 0
_uuid_lock = threading.Lock()
_random = b""  # os.urandom's bytes, read 4 KiB at a time (see uuid7)


def _forget_random() -> None:
    global _random
    _random = b""  # a forked child must not reuse its parent's bits


os.register_at_fork(after_in_child=_forget_random)


def uuid7(now: float | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random bits;
    increasing within this process even inside one millisecond (a value not
    above the last one is the last one plus one, RFC 9562 method 3).

    The random bits come from os.urandom read 4 KiB at a time: one system
    call per 409 ids rather than one per id, which matters on the request
    path (a system call lets the record's writer thread take the GIL)."""
    global _last_uuid, _random
    ms = int((time.time() if now is None else now) * 1000)
    with _uuid_lock:
        if len(_random) < 10:
            _random = os.urandom(4096)
        bits, _random = _random[:10], _random[10:]
        value = (ms << 80) | int.from_bytes(bits, "big")
        if value >> 80 <= _last_uuid >> 80:  # same (or an earlier) millisecond
            value = _last_uuid + 1
        _last_uuid = value
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def row_hash(prev: str, row: Row) -> str:
    """SHA-256 of the previous row's hash and this row's canonical form: the
    JSON array of its fields, in Row's order."""
    canonical = _CANONICAL.encode(row)
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


def values_of(inputs: str | None) -> dict[str, float | None] | None:
    """A row's patient values; None for a refusal or values kept as an HMAC."""
    if not inputs or inputs.startswith(HASHED):
        return None
    return json.loads(inputs)  # type: ignore[no-any-return]


def answer_of(outputs: str | None) -> dict[str, Any]:
    """A row's answer, with its `probability` at the top: as the service's
    own routes and V2 store it; a CDS Hooks card's is its RiskAssessment's
    `probabilityDecimal`. {} for a refusal."""
    answer: dict[str, Any] = json.loads(outputs) if outputs else {}
    if "cards" in answer:
        resource = answer["cards"][0]["suggestions"][0]["actions"][0]["resource"]
        return {"probability": resource["prediction"][0]["probabilityDecimal"]}
    return answer
