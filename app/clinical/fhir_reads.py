"""Reading from the EHR's FHIR server the prefetch keys it did not send:
each key's template with the patient's id, against `fhirServer`, with
`fhirAuthorization`'s bearer token, all keys at once, within one timeout.

One `httpx.AsyncClient` per worker (connections to the EHR kept alive
between calls) is made on first use and closed with the app (`close`).
No redirect is followed, and an answer longer than MAX_ANSWER_BYTES is
dropped. The token is sent to the FHIR server and nowhere else (the caller
checks the server is allowed, `app.clinical.cds_clients`): never logged,
never in an answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx

from app.clinical.prefetch import PATIENT_ID, templates

FHIR_JSON = "application/fhir+json"
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""The longest answer read from a FHIR server (one Patient, or a search for one
patient's newest result, is a few kB)."""


class TooLongError(Exception):
    """An answer longer than its reader takes (MAX_ANSWER_BYTES for a FHIR server's)."""


class FhirServerError(Exception):
    """Some keys could not be read; `keys` names them, the message says why."""

    def __init__(self, keys: list[str], why: str, unauthorized: bool = False) -> None:
        super().__init__(why)
        self.keys = keys
        self.unauthorized = unauthorized  # a 401: the token is not (or no longer) good


async def capped_body(response: httpx.Response, most: int) -> bytes:
    """A streamed answer's body, or TooLongError past `most` bytes (the rest is not read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > most:
            raise TooLongError
    return bytes(body)


class FhirReader:
    """Reads prefetch keys from an EHR's FHIR server."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    async def read(
        self, server: str, token: str | None, patient_id: str, keys: list[str]
    ) -> dict[str, Any]:
        """{key: the FHIR server's answer (a resource or Bundle, or None for a
        404 on a read)}, or FhirServerError naming every key not read."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        wanted = templates()
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        base = server.rstrip("/")
        urls = {k: f"{base}/{wanted[k].replace(PATIENT_ID, quote(patient_id, safe=''))}"
                for k in keys}  # fmt: skip
        tasks = {k: asyncio.ensure_future(self._get(url, headers)) for k, url in urls.items()}
        done, pending = await asyncio.wait(tasks.values(), timeout=self.timeout)
        for task in pending:
            task.cancel()
        failed = [k for k, t in tasks.items() if t not in done or t.exception() is not None]
        if failed:
            reasons = {_why(t) for k, t in tasks.items() if k in failed}
            unauthorized = any(_status(tasks[k]) == 401 for k in failed)
            raise FhirServerError(failed, "; ".join(sorted(reasons)), unauthorized)
        return {k: t.result() for k, t in tasks.items()}

    async def _get(self, url: str, headers: dict[str, str]) -> Any:
        assert self._http is not None
        async with self._http.stream("GET", url, headers=headers) as response:
            if response.status_code == 404 and "?" not in url:
                return None  # a read of a resource that is not there: not on file
            response.raise_for_status()  # a redirect too: it is not followed
            body = await capped_body(response, MAX_ANSWER_BYTES)
        return json.loads(body)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _status(task: asyncio.Future[Any]) -> int | None:
    if not task.done() or task.cancelled():
        return None
    exc = task.exception()
    return exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None


def _why(task: asyncio.Future[Any]) -> str:
    if not task.done() or task.cancelled():
        return "the FHIR server did not answer in time"
    exc = task.exception()
    if isinstance(exc, httpx.HTTPStatusError):
        followed = " (redirects are not followed)" if exc.response.is_redirect else ""
        return f"the FHIR server answered {exc.response.status_code}{followed}"
    if isinstance(exc, TooLongError):
        return f"the FHIR server's answer is longer than {MAX_ANSWER_BYTES} bytes"
    if isinstance(exc, ValueError):
        return "the FHIR server's answer is not JSON"
    return f"the FHIR server cannot be reached ({type(exc).__name__})"
