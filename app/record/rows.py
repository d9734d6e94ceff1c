"""One row of the record (`Row`): one request, holding every patient it
answered; its time-ordered ids (`uuid7`, `patient_ids`), its place in the
hash chain (`row_hash`), and how it reads back, one answer per patient
(`answers_in`, `values_of`, `answer_of`)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any, NamedTuple

GENESIS = "0" * 64  # the previous hash of the first row
HASHED = "hmac-sha256:"  # AUDIT_INPUTS=hash: a patient's inputs are this and the digest's hex
_CANONICAL = json.JSONEncoder(separators=(",", ":"))  # json.dumps(row, separators=...), built once


class Row(NamedTuple):
    """One request's answers, as recorded. `inputs` is the patients'
    values: the request's body as validated, when it was a Patient or a
    BatchRequest (`{"patients": [...]}`, even of one); else one patient's
    JSON object, or a JSON array of several. `outputs` is the answer as
    sent, or with several patients the JSON array of their answers, in
    order. No patient's inputs (a refusal): both None."""

    id: str  # UUIDv7: time-ordered; the first patient's (patient_ids)
    request_id: str | None
    received_at: float  # seconds since the epoch
    answered_at: float
    route: str
    model_version: str | None
    artifact_sha256: str | None
    caller: str | None  # the API key's name or the JWT's issuer, never a secret
    status: int
    error_code: str | None
    inputs: str | None
    outputs: str | None
    patients: int = 1  # last, with its default: a row of schema 1 is a Row as it was


_last_uuid = 0
_uuid_lock = threading.Lock()
_random = b""  # os.urandom's bytes, read 4 KiB at a time (see uuid7)
_SPARE = (0x3 << 62) | (1 << 61)  # the variant's bits, and the one kept clear for patient_ids


def _forget_random() -> None:
    global _random
    _random = b""  # a forked child must not reuse its parent's bits


os.register_at_fork(after_in_child=_forget_random)


def uuid7(now: float | None = None, count: int = 1) -> str:
    """The first of `count` consecutive UUIDv7s (RFC 9562: 48 bits of
    milliseconds, then random bits), the others being `patient_ids`'s;
    increasing within this process even inside one millisecond (RFC 9562
    section 6.2, method 2: the random part is incremented).

    The random bits come from os.urandom read 4 KiB at a time: one system
    call per 409 ids rather than one per id, which matters on the request
    path (a system call lets the record's writer thread take the GIL)."""
    global _last_uuid, _random
    ms = int((time.time() if now is None else now) * 1000)
    with _uuid_lock:
        if len(_random) < 10:
            _random = os.urandom(4096)
        bits, _random = _random[:10], _random[10:]
        value = (ms << 80) | (int.from_bytes(bits, "big") & ~(0xF << 76) & ~_SPARE)
        if value <= _last_uuid:  # the same (or an earlier) millisecond
            value = _last_uuid + 1
        _last_uuid = value + count - 1
    return _text(value | (0x7 << 76) | (0x2 << 62))  # version 7, variant 10


def patient_ids(first: str, count: int) -> list[str]:
    """The ids of a row's `count` patients: `first` (the row's), then the
    UUIDs after it. uuid7 keeps bit 61 clear, so that adding up to 2**61
    never reaches the variant's bits."""
    if count == 1:
        return [first]
    start = int(first.replace("-", ""), 16)
    return [_text(start + i) for i in range(count)]


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def row_hash(prev: str, row: Row) -> str:
    """SHA-256 of the previous row's hash, a newline, and this row's
    canonical form. A row of one patient (or none): the JSON array of its
    fields in Row's order, `patients` left out (as schema 1 wrote it, so
    that its rows verify unchanged). A row of several: the JSON array of
    its fields with `inputs` and `outputs` as null, then for each of those a
    newline and either `-` (null) or its length in UTF-8 bytes, a colon and
    the text itself (a batch's texts are hashed as they are, not escaped
    into JSON again)."""
    if row.patients == 1:
        return hashlib.sha256(f"{prev}\n{_CANONICAL.encode(row[:-1])}".encode()).hexdigest()
    fields = _CANONICAL.encode(row._replace(inputs=None, outputs=None))
    digest = hashlib.sha256(f"{prev}\n{fields}".encode())
    for text in (row.inputs, row.outputs):
        if text is None:
            digest.update(b"\n-")
            continue
        data = text.encode()
        digest.update(b"\n%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def answers_in(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored row (its columns) as one answer per patient, in order: the
    row's columns, with the patient's `id`, `index`, `inputs` (their values
    as a dict, the HMAC's text, or None for a refusal) and `outputs` (the
    answer as sent, parsed; None for a refusal)."""
    n = stored.get("patients", 1)
    given, outputs = _each_input(stored["inputs"], n), stored["outputs"]
    answered: list[Any] = [None] * n  # a refusal
    if outputs:
        answered = json.loads(outputs) if n > 1 else [json.loads(outputs)]
    ids = patient_ids(stored["id"], n)
    return [
        {**stored, "id": ids[i], "index": i, "inputs": given[i], "outputs": answered[i]}
        for i in range(n)
    ]


def _each_input(inputs: str | None, n: int) -> list[Any]:
    """Each of a row's `n` patients' inputs, whatever form `Row.inputs`
    took: a patient's object, a JSON array, a `{"patients": [...]}` body
    (even of one patient: a batch of one), or one HMAC."""
    if inputs is None:
        return [None] * n
    if inputs.startswith(HASHED):
        return [inputs]
    given = json.loads(inputs)
    if isinstance(given, dict) and "patients" in given:  # a Patient has no such field
        return given["patients"]  # type: ignore[no-any-return]
    return given if n > 1 else [given]  # type: ignore[no-any-return]


def values_of(inputs: Any) -> dict[str, float | None] | None:
    """An answer's patient values (`answers_in`'s `inputs`); None for a
    refusal or values kept as an HMAC."""
    return inputs if isinstance(inputs, dict) else None


def answer_of(outputs: dict[str, Any] | None) -> dict[str, Any]:
    """An answer (`answers_in`'s `outputs`) with its `probability` at the
    top: as the service's own routes and V2 store it; a CDS Hooks card's is
    its RiskAssessment's `probabilityDecimal`. {} for a refusal."""
    answer = outputs or {}
    if "cards" in answer:
        resource = answer["cards"][0]["suggestions"][0]["actions"][0]["resource"]
        return {"probability": resource["prediction"][0]["probabilityDecimal"]}
    return answer
