"""Bodies built to be expensive: what `app.api.schemas.validate_json` looks at
before pydantic validates a body that is not plainly valid.

pydantic builds one error per problem, so a hostile body of many unknown
keys would cost a second of CPU and a megabytes-long answer. These checks
read the bytes, or the body as plain JSON (jiter), and answer such bodies
with the first MAX_REPORTED problems and a count of the rest.
Figures: docs/performance.md ("Hostile bodies").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic_core import from_json

from model.features import FEATURE_NAMES

_KNOWN = frozenset(FEATURE_NAMES)

MAX_BYTES_PER_FIELD = 256
"""More bytes per key than this (plus 4 KiB) and a body cannot be valid: every
value is a number."""

MAX_REPORTED = 20
"""Most problems listed in one error answer; the rest are counted."""


class TooManyProblemsError(ValueError):
    """A body with more unknown keys than are worth validating one by one:
    the first MAX_REPORTED (as pydantic's error dicts) and how many in all."""

    def __init__(self, errors: list[dict[str, Any]], total: int, exact: bool = True) -> None:
        super().__init__(f"{total} problems")
        self.errors, self.total, self.exact = errors, total, exact


def parses(body: bytes) -> bool:
    """Whether `body` is JSON at all (parsed by jiter, pydantic's JSON reader)."""
    try:
        from_json(body)
    except ValueError:
        return False
    return True


_PREFIX = 64 * 1024
"""How much of a body with far too many keys is parsed to name the first ones."""


def refuse_many_unknown_keys(body: bytes, batch: bool, many_keys: bool, colons: int) -> None:
    """TooManyProblemsError for more than MAX_REPORTED unknown keys. A body
    with far more keys than objects is parsed only as far as `_PREFIX`
    bytes, and its keys are counted by their colons (so "about")."""
    if colons <= MAX_REPORTED:
        return  # too few keys for too many unknown ones: no need to look
    try:
        data = from_json(body[:_PREFIX], allow_partial=True) if many_keys else from_json(body)
    except ValueError:
        return  # not JSON (or nested too deep): pydantic says so at once
    unknown = list(_unknown_keys(data, batch))
    if len(unknown) > MAX_REPORTED:
        errors = [
            {"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted"}
            for loc in unknown[:MAX_REPORTED]
        ]
        # every colon of such a body is a key: all but the known ones seen are unknown
        total = max(len(unknown), colons - _known_keys(data)) if many_keys else len(unknown)
        raise TooManyProblemsError(errors, total, exact=not many_keys)


def too_long(most: int, got: int | None, setting: str = "MAX_BATCH") -> dict[str, Any]:
    """The error of a batch over its limit (`setting` names it); `got` None
    when the body was refused before it was parsed."""
    counted = f"got {got}" if got is not None else "this body holds more"
    return {
        "type": "too_long",
        "loc": ("patients",),
        "msg": f"A batch holds at most {most} patients ({setting}), {counted}",
    }


def _known_keys(data: Any) -> int:
    if not isinstance(data, dict):
        return 0
    patients = data.get("patients")
    nested = patients if isinstance(patients, list) else [data]
    top = 1 if isinstance(patients, list) else 0
    return top + sum(sum(k in _KNOWN for k in p) for p in nested if isinstance(p, dict))


def _unknown_keys(data: Any, batch: bool) -> Iterator[tuple[Any, ...]]:
    if not isinstance(data, dict):
        return
    if not batch:
        yield from ((k,) for k in data if k not in _KNOWN)
        return
    yield from ((k,) for k in data if k != "patients")
    patients = data.get("patients")
    if isinstance(patients, list):
        for i, patient in enumerate(patients):
            if isinstance(patient, dict):
                yield from (("patients", i, k) for k in patient if k not in _KNOWN)
