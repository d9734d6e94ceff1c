"""The risk page: `GET /app` (the page, prefilled from the chart after a
SMART launch), `POST /app/answer` (a what-if: /explain's body, the answer
as the page's HTML) and the page's own script and stylesheet.

Who may call them (`Caller.PAGE`, checked by `authorized`): a browser whose
cookie names a live session of a SMART launch (`app.page.launch`); without
one, anyone only while no API key and no SMART client is set (local
development). No API key ever reaches a browser. Every answer is recorded
like /explain's, the caller being the launch's fhirUser, else its iss.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from app.api import answers
from app.api.explain import in_explain_thread
from app.api.recording import record_answers
from app.api.schemas import Patient, rows
from app.api.scoring import read_body
from app.clinical.fhir_inputs import FASTING_THRESHOLD
from app.config import Settings
from app.deps import get_predictor
from app.errors import CROSS_ORIGIN, NOT_FOUND, PAGE_EXPIRED, PAGE_UNAUTHORIZED, ApiError
from app.page import launch, render
from app.page.chart import read_chart
from app.page.sessions import COOKIE, Sessions
from app.page.smart import Smart
from app.page.smart_clients import SmartClients
from app.policy import PUBLIC, Caller, Policy, declare
from model.features import FEATURE_NAMES

PAGE = Policy(Caller.PAGE, recorded=True, heavy=True)
STATIC = {
    "page.js": ((render.HERE / "static" / "page.js").read_bytes(), "text/javascript"),
    "page.css": ((render.HERE / "static" / "page.css").read_bytes(), "text/css"),
}

router = APIRouter(tags=["risk page"], include_in_schema=False)


async def authorized(request: Request) -> None:
    """The caller check of the page's routes (`Caller.PAGE`, handed to
    `app.policy.enforce`); a POST must come from the page's own origin."""
    state = request.scope.setdefault("state", {})
    if request.method == "POST":
        origin = request.headers.get("origin")
        if origin is not None and origin != render.own_origin(request):
            raise ApiError(CROSS_ORIGIN)
    sid = request.cookies.get(COOKIE)
    session = request.app.state.page_sessions.get(sid)
    if session is not None and session.usable:
        state["page_session"], state["page_session_id"] = session, sid
        state["page_caller"] = session.caller  # the record's caller (app.api.recording)
        return
    if not (request.app.state.api_keys.enabled or request.app.state.smart_clients.enabled):
        return  # the standalone page, for local development
    raise ApiError(PAGE_EXPIRED if sid is not None else PAGE_UNAUTHORIZED)


@router.get("/app")
@declare(PAGE)
async def page(request: Request) -> Response:
    predictor = await get_predictor(request)
    session = request.scope.get("state", {}).get("page_session")
    readings, patient = (await read_chart(request, session)) if session else (None, None)
    row = [r.value for r in readings] if readings else [None] * len(FEATURE_NAMES)
    view = await _answered(request, predictor, row)
    html = render.page(
        fields=render.fields(readings),
        patient=patient,
        answer_html=render.answer(view),
        fasting_threshold=FASTING_THRESHOLD,
    )
    return render.html(request, html)


@router.post("/app/answer")
@declare(PAGE)
async def answer(request: Request) -> Response:
    predictor = await get_predictor(request)
    patient = await read_body(request, Patient)
    view = await _answered(request, predictor, rows([patient])[0])
    return render.html(request, render.answer(view))


async def _answered(
    request: Request, predictor: Any, row: Sequence[float | None]
) -> dict[str, Any]:
    """The page's view of `row`'s /explain answer, recorded as /explain's is."""
    patients: Any = [row]  # a value not measured is None, as in every route's rows
    work = partial(answers.explanations, predictor, patients)
    answer = answers.alone(await in_explain_thread(request, 1, work))
    recorded = await record_answers(request, predictor, [row], answer)
    return render.answer_view(json.loads(answer), recorded)


@router.get("/app/static/{name}")
@declare(PUBLIC)
async def static(name: str) -> Response:
    """The page's script and stylesheet (nothing else is served here)."""
    if name not in STATIC:
        raise ApiError(NOT_FOUND)
    content, media_type = STATIC[name]
    return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})


def install(app: FastAPI, settings: Settings) -> SmartClients:
    """Add the page, its launch, the sessions and the SMART client to `app`;
    the SMART clients are loaded in the lifespan."""
    app.state.smart_clients = clients = SmartClients(settings.smart_clients_file)
    app.state.smart = Smart(settings.fhir_timeout)
    app.state.page_sessions = Sessions()
    app.include_router(router)
    app.include_router(launch.router)
    return clients


JSON_PATHS = frozenset({"/app/answer"})
"""Where a body not declared as JSON gets 415: a form another site posts never reaches it."""
