"""/docs (Swagger UI 5) and /redoc served from assets installed with the
package (`fastapi-offline` ships them), so the pages work without internet,
e.g. inside a hospital network. FastAPI's defaults would load them from a
public CDN; `create_app` turns those off."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from app.policy import PUBLIC, declare

ASSETS_URL = "/docs-assets"
ASSETS_DIR = files("fastapi_offline") / "static"

router = APIRouter(include_in_schema=False)

# Nothing but this server: ReDoc would otherwise fetch its logo from a CDN.
# (The pages' own inline scripts and styles, and ReDoc's blob: worker, are allowed.)
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


@router.get("/docs")
@declare(PUBLIC)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    app = request.app
    return _offline(
        get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        )
    )


@router.get("/docs/oauth2-redirect")
@declare(PUBLIC)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _redoc_js() -> bytes:
    """ReDoc's bundle with its one hard-coded outside request (a logo in the
    sidebar, which it hides when it fails to load) pointed at our favicon."""
    js = (ASSETS_DIR / "redoc.standalone.js").read_text(encoding="utf-8")
    return js.replace(REDOC_LOGO, f"{ASSETS_URL}/favicon.png").encode()


@router.get(f"{ASSETS_URL}/redoc.standalone.js")
@declare(PUBLIC)
async def redoc_js() -> Response:
    return Response(
        _redoc_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/redoc")
@declare(PUBLIC)
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _offline(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )


def install(app: FastAPI) -> None:
    """Serve the assets and the two pages (the app is built with docs_url=None),
    and declare FastAPI's own OpenAPI document public."""
    app.include_router(router)  # first: its redoc.standalone.js wins over the mount's
    assets = declare(PUBLIC)(StaticFiles(directory=str(ASSETS_DIR)))
    app.mount(ASSETS_URL, assets, name="docs-assets")
    for route in app.router.routes:
        if getattr(route, "path", None) == app.openapi_url:
            declare(PUBLIC)(route.endpoint)  # type: ignore[attr-defined]
