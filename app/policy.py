"""Every route's policy, declared where the route is defined (`@declare`),
and the one mechanism that applies it (`enforce`, called last by
`app.main.create_app`).

A policy says who may call the route, whether its answers and refusals
are recorded, whether it may be shed (503 `overloaded`), and whether its
work can be heavy (such routes score off the event loop:
`app.api.scoring.scored`, and explanations in their own threads).
`enforce` refuses to build an app with a route that declares none, checks
the caller before the route reads its body, and declares in OpenAPI the
security it enforces, exactly when it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import FORBIDDEN, UNAUTHORIZED, ApiError

F = TypeVar("F", bound=Callable[..., Any])


class Caller(Enum):
    """Who may call a route."""

    OPEN = "anyone"
    SCORE = "an API key with the score scope, once any API key is set (else anyone)"
    AUDIT = "an API key with the audit scope, always"
    EHR = (
        "an EHR's signed JWT (CDS_CLIENTS_FILE); unsigned calls only while no API key "
        "and no clients file is set"
    )
    PAGE = (
        "a risk-page session of a SMART launch (SMART_CLIENTS_FILE); without one, anyone "
        "only while no API key and no SMART client is set"
    )


@dataclass(frozen=True)
class Policy:
    caller: Caller
    recorded: bool = False
    """Its answers and refusals are kept in the record (`app.api.recording`)."""
    sheddable: bool = True
    """It may be answered 503 `overloaded`; probes and scrapes never are."""
    heavy: bool = False
    """Its scoring can take long (batches, missing values, explanations)."""


OPERATIONS = Policy(Caller.OPEN, sheddable=False)
"""Probes and scrapes: open, never shed, so a busy worker is seen alive."""
PUBLIC = Policy(Caller.OPEN)
"""Documents anyone may read: the docs, the model card, metadata."""


def declare(policy: Policy) -> Callable[[F], F]:
    """Mark an endpoint (or a mounted ASGI app) with its policy."""

    def mark(endpoint: F) -> F:
        endpoint.policy = policy  # type: ignore[attr-defined]
        return endpoint

    return mark


def routes(app: FastAPI) -> list[BaseRoute]:
    """Every route of `app`, those of included routers too (FastAPI >= 0.137
    keeps an included router as one entry; its routes carry no prefix here)."""
    found: list[BaseRoute] = []
    pending = list(app.router.routes)
    while pending:
        route = pending.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            pending[:0] = inner.routes
        else:
            found.append(route)
    return found


def policy_of(route: BaseRoute) -> Policy | None:
    target = getattr(route, "endpoint", None) or getattr(route, "app", None)
    return getattr(target, "policy", None)


def open_to_anyone(app: FastAPI, keyed: bool, signed: bool, launched: bool = False) -> list[str]:
    """The routes anyone may call, with API keys set or not (`keyed`),
    CDS_CLIENTS_FILE set or not (`signed`) and SMART_CLIENTS_FILE set or not
    (`launched`), as "group (path, ...)", a group
    being a route's first OpenAPI tag ("docs" for the untagged documents):
    what the start-up log names."""
    callers = {Caller.OPEN} | ({Caller.SCORE} if not keyed else set())
    if not (keyed or signed):
        callers.add(Caller.EHR)
    if not (keyed or launched):
        callers.add(Caller.PAGE)
    groups: dict[str, list[str]] = {}
    for route in routes(app):
        policy = policy_of(route)
        if policy is not None and policy.caller in callers:
            group = str((getattr(route, "tags", None) or ["docs"])[0])
            groups.setdefault(group, []).append(getattr(route, "path", repr(route)))
    return [f"{group} ({', '.join(sorted(set(paths)))})" for group, paths in sorted(groups.items())]


@dataclass(frozen=True)
class Rules:
    """What the policies say, per path template, for the parts that act on paths."""

    recorded: frozenset[str]
    never_shed: frozenset[str]


current = Rules(frozenset(), frozenset())
"""The rules of the app this process serves last built: the door
(`app.guards.connections`), which runs before any app, reads them."""


Check = Callable[[Request], Awaitable[None]]
"""A caller check: returns, or raises the ApiError to answer (401, 403)."""


def enforce(app: FastAPI, ehr_check: Check, page_check: Check | None = None) -> Rules:
    """Put every route of `app` under its policy, EHR callers checked by
    `ehr_check` (CDS Hooks' JWT check) and the risk page's by `page_check`
    (its session); RuntimeError names a route without one."""
    global current
    checks: dict[Caller, Check] = {
        Caller.SCORE: _score_key, Caller.AUDIT: _audit_key, Caller.EHR: ehr_check,
        Caller.PAGE: page_check or _nobody,
    }  # fmt: skip
    rules: dict[str, set[str]] = {"recorded": set(), "never_shed": set()}
    for route in routes(app):
        policy = policy_of(route)
        path = getattr(route, "path", repr(route))
        if policy is None:
            raise RuntimeError(f"the route {path} declares no policy (app.policy.declare)")
        if not policy.sheddable and "{" in path:
            raise RuntimeError(
                f"{path}: only a fixed path can be never shed (the door matches paths)"
            )
        if policy.caller is not Caller.OPEN:
            # `handle`, which both the app's router and an included router call;
            # a module's router is shared by every app built: wrapped once
            inner = getattr(route.handle, "inner", route.handle)
            methods = getattr(route, "methods", None)
            route.handle = Gate(inner, checks[policy.caller], methods)  # type: ignore[method-assign]
        if policy.recorded:
            rules["recorded"].add(path)
        if not policy.sheddable:
            rules["never_shed"].add(path)
    app.state.rules = current = Rules(**{k: frozenset(v) for k, v in rules.items()})
    app.openapi = _with_security(app, app.openapi)  # type: ignore[method-assign]
    return current


class Gate:
    """The caller check of one route, before the route reads anything: 401
    without credentials, 403 with a key lacking the scope (V2's routes
    answer them in V2's shape, `app.errors`)."""

    def __init__(self, inner: ASGIApp, check: Check, methods: set[str] | None) -> None:
        self.inner, self.check, self.methods = inner, check, methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.methods or scope.get("method") in self.methods:  # else the route's 405
            await self.check(Request(scope))
        await self.inner(scope, receive, send)


async def _nobody(request: Request) -> None:
    raise ApiError(UNAUTHORIZED)


async def _score_key(request: Request) -> None:
    if request.app.state.api_keys.enabled:
        check_key(request, "score")


async def _audit_key(request: Request) -> None:
    check_key(request, "audit")


def check_key(request: Request, scope: str) -> None:
    """The request's API key (X-API-Key, or a bearer token) must be in force
    and carry `scope`; its name goes to the request's log line and the record."""
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    found = request.app.state.api_keys.identify(given) if given else None
    if found is None:
        raise ApiError(UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    name, scopes = found
    request.scope.setdefault("state", {})["api_key_name"] = name  # read by RequestContext
    if scope not in scopes:
        raise ApiError(FORBIDDEN, f"This key lacks the '{scope}' scope this route needs.")


SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "The API key, when API_KEY is set."},
    "HTTPBearer": {"type": "http", "scheme": "bearer",
                   "description": "The API key as a bearer token."},
}  # fmt: skip


def _with_security(app: FastAPI, openapi: Callable[[], dict[str, Any]]) -> Any:
    """`openapi`, with each operation's security as `enforce` applies it (a
    key on the audit routes always, on the scoring routes while keys are
    set), and a description saying what it is for and who may call it."""

    def with_security() -> dict[str, Any]:
        schema = openapi()  # cached by FastAPI; the changes below are idempotent
        keyed = {Caller.AUDIT} | ({Caller.SCORE} if app.state.api_keys.enabled else set())
        purposes = {t["name"]: t.get("description", "") for t in schema.get("tags", [])}
        declared = False
        for route in routes(app):
            policy = policy_of(route)
            for operation in _operations(schema, route):
                operation.setdefault("description", _described(operation, policy, purposes))
            if policy is None or policy.caller not in keyed:
                continue
            for operation in _operations(schema, route):
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                declared = True
        if declared:
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        return schema

    return with_security


def _described(operation: dict[str, Any], policy: Policy | None, purposes: dict[str, str]) -> str:
    """An operation's description: what its tag is for, and its policy."""
    tag = (operation.get("tags") or [""])[0]
    said = [purposes.get(tag, "")]
    if policy is not None:
        said.append(f"Who may call it: {policy.caller.value}.")
        said.append("Its answers and refusals are recorded." if policy.recorded else "")
    return " ".join(s for s in said if s)


def _operations(schema: dict[str, Any], route: BaseRoute) -> Iterable[dict[str, Any]]:
    item = schema.get("paths", {}).get(getattr(route, "path", None), {})
    for method in getattr(route, "methods", None) or ():
        if method.lower() in item:
            yield item[method.lower()]
