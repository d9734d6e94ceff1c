"""The risk page's SMART EHR launch (docs/smart-launch.md):

1. `GET /smart/launch?iss=...&launch=...`, from the EHR: the iss must be in
   SMART_CLIENTS_FILE; its configuration is discovered (S256 required), a
   launch bound to the browser's cookie is kept, and the browser is sent
   to the authorization endpoint with PKCE.
2. `GET /smart/callback?code=...&state=...`, from the authorization server:
   the state is checked (constant time, once, before it expires, for this
   browser), the code exchanged, and the browser sent to `/app` with a new
   session cookie.

Both are open to anyone (a browser arriving from the EHR); what they accept
is what the launch proves. A refusal is an HTML page saying what to do, and
the log says why.
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from app.clinical.cds_routes import public_url
from app.errors import EHR_UNAVAILABLE, LAUNCH_REFUSED, ApiError
from app.page.sessions import COOKIE, LAUNCH_SECONDS, SESSION_SECONDS, new_id
from app.page.smart import Configuration, SmartError, authorize_url, new_launch
from app.policy import Caller, Policy, declare

log = logging.getLogger("app")

CALLBACK = "/smart/callback"
LAUNCH = Policy(Caller.OPEN)
"""Anyone may arrive: the iss must be listed, the callback must match its launch."""
OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")

router = APIRouter(tags=["risk page"], include_in_schema=False)


def redirect_uri(request: Request) -> str:
    """PUBLIC_BASE_URL + /smart/callback: what the EHR has registered."""
    return public_url(request, CALLBACK)


@router.get("/smart/launch")
@declare(LAUNCH)
async def launch(request: Request, iss: str = "", launch: str = "") -> Response:
    clients = request.app.state.smart_clients
    if not clients.enabled:
        raise ApiError(LAUNCH_REFUSED, "SMART launches are not set up on this service "
                       "(SMART_CLIENTS_FILE).")  # fmt: skip
    if not iss or not launch:
        raise ApiError(LAUNCH_REFUSED, "A launch needs the iss and launch the EHR sends: "
                       "open the page from the EHR.")  # fmt: skip
    client = clients.get(iss)
    if client is None:
        log.warning("SMART launch refused: the iss %r is not in SMART_CLIENTS_FILE", iss[:200])
        raise ApiError(LAUNCH_REFUSED, "This EHR is not registered with this service: ask its "
                       "operator to add it to SMART_CLIENTS_FILE.")  # fmt: skip
    config = await _configuration(request, client.iss)
    browser = request.cookies.get(COOKIE) or new_id()
    pending, challenge = new_launch(browser, client, config)
    request.app.state.page_sessions.begin(pending)
    url = authorize_url(config, pending, challenge, launch, redirect_uri(request))
    response = RedirectResponse(url, status_code=302)
    set_cookie(request, response, browser, LAUNCH_SECONDS)
    return response


async def _configuration(request: Request, iss: str) -> Configuration:
    try:
        return await request.app.state.smart.discover(iss)  # type: ignore[no-any-return]
    except SmartError as exc:
        log.warning("SMART launch refused: %s", exc)
        raise ApiError(EHR_UNAVAILABLE, "The EHR's SMART configuration cannot be used; "
                       "the service's log says why.") from None  # fmt: skip


@router.get(CALLBACK)
@declare(LAUNCH)
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    if error:
        said = error if OAUTH_ERROR.fullmatch(error) else "an error"
        log.warning("SMART launch: the EHR answered %s instead of a code", said)
        raise ApiError(LAUNCH_REFUSED, f"The EHR did not authorize the page ({said}).")
    sessions = request.app.state.page_sessions
    pending = sessions.take(request.cookies.get(COOKIE), state)
    if pending is None:
        log.warning("SMART callback refused: its state is unknown to this browser, used "
                    "already, or expired")  # fmt: skip
        raise ApiError(LAUNCH_REFUSED, "This launch is not known here, was used already, or "
                       "expired: open the page again from the EHR.")  # fmt: skip
    if not code:
        raise ApiError(LAUNCH_REFUSED, "The EHR sent no authorization code.")
    try:
        session = await request.app.state.smart.exchange(pending, code, redirect_uri(request))
    except SmartError as exc:
        log.warning("SMART launch refused at the token endpoint: %s", exc)
        raise ApiError(LAUNCH_REFUSED, "The EHR did not grant access to a patient's chart: "
                       "open the page again from the EHR.") from None  # fmt: skip
    response = RedirectResponse("/app", status_code=303)
    set_cookie(request, response, sessions.open(session), SESSION_SECONDS)
    log.info("SMART launch from %s: a page session opened", session.iss)
    return response


def set_cookie(request: Request, response: Response, value: str, seconds: float) -> None:
    """The page's cookie: an opaque id, HttpOnly. Over https it is Secure,
    SameSite=None and Partitioned, so that it works in the EHR's frame; on
    plain http (loopback) it is SameSite=Lax."""
    secure = request.app.state.settings.public_base_url.startswith("https://")
    response.set_cookie(
        COOKIE, value, max_age=int(seconds), path="/", httponly=True, secure=secure,
        samesite="none" if secure else "lax", partitioned=secure,
    )  # fmt: skip
