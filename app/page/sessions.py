"""The risk page's browser sessions, held by the server: the browser's
cookie carries only an opaque id (`new_id`, 256 random bits).

- A `Launch` is a SMART launch under way: its `state` (256 random bits),
  PKCE verifier and the EHR's endpoints, bound to the browser's cookie,
  usable once, for LAUNCH_SECONDS.
- A `Session` is a completed launch: the tokens (never sent to the
  browser), the patient, who launched it, and until when it holds.

Both live in this worker's memory (with WORKERS > 1 a browser must come
back to the worker that launched it: docs/smart-launch.md), at most
MAX_SESSIONS of each, the oldest dropped first.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from app.page.smart_clients import SmartClient

COOKIE = "heart_risk_session"
"""The page's cookie: an opaque id, a session's or (during a launch) the browser's."""
LAUNCH_SECONDS = 600.0
"""How long a launch may take, from /smart/launch to /smart/callback."""
SESSION_SECONDS = 12 * 3600.0
"""The longest a page session lasts, refresh tokens or not."""
MAX_SESSIONS = 10_000
MAX_LAUNCHES_PER_BROWSER = 8

clock = time.time


def new_id() -> str:
    """An opaque, unguessable id (256 bits) for a cookie or a `state`."""
    return secrets.token_urlsafe(32)


@dataclass
class Launch:
    browser: str  # the cookie it is bound to
    state: str
    verifier: str
    client: SmartClient
    token_endpoint: str
    issuer: str | None  # the authorization server's, for the id_token
    expires: float


@dataclass
class Session:
    iss: str
    client: SmartClient
    token_endpoint: str
    access_token: str
    expires: float  # of the access token
    patient: str
    caller: str  # the launch's fhirUser, else its iss
    refresh_token: str | None = None
    ends: float = field(default_factory=lambda: clock() + SESSION_SECONDS)

    def __repr__(self) -> str:  # tokens never reach a log line
        return f"Session(iss={self.iss!r}, patient={self.patient!r}, caller={self.caller!r})"

    @property
    def usable(self) -> bool:
        """Whether it can still read the chart: a live token, or a refresh token."""
        now = clock()
        return now < self.ends and (now < self.expires or self.refresh_token is not None)


class Sessions:
    """The launches under way and the sessions of this worker."""

    def __init__(self) -> None:
        self._launches: OrderedDict[str, list[Launch]] = OrderedDict()  # browser -> launches
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def begin(self, launch: Launch) -> None:
        pending = [x for x in self._launches.pop(launch.browser, []) if x.expires > clock()]
        self._launches[launch.browser] = [*pending[-(MAX_LAUNCHES_PER_BROWSER - 1) :], launch]
        _bound(self._launches)

    def take(self, browser: str | None, state: str) -> Launch | None:
        """The launch of this browser whose state is `state` (compared in
        constant time), removed: a state is used once. None when there is
        none, or it expired."""
        found = None
        for launch in self._launches.get(browser or "", []):
            if hmac.compare_digest(launch.state.encode(), state.encode()):
                found = launch
        if found is None:
            return None
        self._launches[found.browser].remove(found)
        return found if found.expires > clock() else None

    def open(self, session: Session) -> str:
        """Keep `session`; its new id, for the cookie."""
        sid = new_id()
        self._sessions[sid] = session
        _bound(self._sessions)
        return sid

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid or "")
        if session is not None and clock() >= session.ends:
            del self._sessions[sid]  # type: ignore[arg-type]
            return None
        return session

    def close(self, sid: str) -> None:
        self._sessions.pop(sid, None)


def _bound(entries: OrderedDict[str, Any]) -> None:
    while len(entries) > MAX_SESSIONS:
        entries.popitem(last=False)
