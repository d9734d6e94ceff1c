"""What one answered request leaves behind for the logs and the metrics:
a `RequestEvent`, made by `app.observability.telemetry` and read by
`app.observability.logs` and `app.observability.metrics` (which import it
from here, so neither depends on the telemetry that calls them)."""

from __future__ import annotations

from typing import NamedTuple


class RequestEvent(NamedTuple):
    """One answered request, as its log line and its metrics see it."""

    time: float  # seconds since the epoch, when it was answered
    method: str
    route: str  # the route template, e.g. /predict; "unmatched" for none
    status: int
    seconds: float  # from the request to the end of the response
    request_id: str
    model_version: str | None
    api_key_name: str | None = None  # the name of the key used, never the key
    cds_issuer: str | None = None  # the EHR whose signed JWT a CDS Hooks call carried
