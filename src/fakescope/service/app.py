"""``create_app(settings)``: the FastAPI application — API, web UI, metrics — and its
background work (workers, callbacks, retention), started and stopped with the app."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fakescope import __version__
from fakescope.jobs.worker import ScannerFactory, scanner_factory_for
from fakescope.service.api import ops, router
from fakescope.service.core import Clock, Service
from fakescope.service.guard import BrowserGuard
from fakescope.service.live import LiveWatches
from fakescope.service.live import router as live_router
from fakescope.service.people import router as people_router
from fakescope.service.reviews import router as reviews_router
from fakescope.service.settings import ServiceSettings, people_scan_settings
from fakescope.store.database import utcnow

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("fakescope.service")

_UI_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


# The in-browser check (/check): its scripts run the models as WebAssembly, the C2PA SDK runs in a
# worker made from a blob: URL, and nothing may be sent anywhere (connect-src 'none').
_CHECK_CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src blob:; "
              "style-src 'self'; img-src 'self' blob: data:; connect-src 'none'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'")
_CHECK_MISSING = ("<!doctype html><meta charset=utf-8><title>fakescope: in-browser check</title>"
                  "<p>The in-browser check is not built here. Build it with <code>fakescope web-build "
                  "DIR</code> (docs/browser.md), then start the service with <code>check_dir</code> set "
                  "to DIR (or build it into DATA_DIR/check). The built folder also works opened from "
                  "disk, with no server at all.</p>")


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _Observe:
    """Pure ASGI middleware: latency per route template, and headers every answer carries."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]
        path = scope.get("path", "")
        ui = path == "/" or path.startswith("/ui/")
        host = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        check = path == "/check" or path.startswith("/check/")

        async def _send(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = [_relative_location(h, host) for h in message.get("headers", [])]
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if ui:
                    headers.append((b"content-security-policy", _UI_CSP.encode()))
                elif check:
                    headers.append((b"content-security-policy", _CHECK_CSP.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("/ui" if ui else "/check" if check else "unmatched")
            # Any client can send any method: a label per made-up method would grow /metrics
            # without bound, so unknown methods share one label.
            method = str(scope.get("method", ""))
            method = method if method in _KNOWN_METHODS else "other"
            self.service.metrics.requests.labels(method, name, str(status[0])).observe(
                time.perf_counter() - t0)


def _relative_location(header: tuple[bytes, bytes], host: bytes) -> tuple[bytes, bytes]:
    """A redirect to this server as a path: Starlette writes its own redirects (``/check``
    to ``/check/``, trailing slashes) as absolute URLs built from the request's Host
    header, which a client chooses."""
    name, value = header
    if name.lower() != b"location" or not value.lower().startswith((b"http://", b"https://")):
        return header
    rest = value.split(b"//", 1)[1]
    netloc, _, path = rest.partition(b"/")
    if netloc.lower() != host.lower():
        return header  # somewhere else: not a redirect built from this request
    return name, b"/" + path


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as text: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def create_app(settings: ServiceSettings | None = None, *, clock: Clock = utcnow,
               scanner_factory: ScannerFactory | None = None,
               start_workers: bool = True) -> FastAPI:
    settings = settings or ServiceSettings()
    scanner_factory = scanner_factory or scanner_factory_for(
        settings.calibration_dir, people_scan_settings(settings))
    service = Service(settings, clock=clock, scanner_factory=scanner_factory, start_workers=start_workers)

    live = LiveWatches(settings, scanner_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            live.stop_all()
            service.stop()

    app = FastAPI(
        title="fakescope", version=__version__, lifespan=lifespan,
        description="Deepfake detection and media provenance. Upload media to `POST /v1/scans`, "
                    "poll `GET /v1/scans/{id}` for the report. Authenticate with "
                    "`Authorization: Bearer <API key>` (`fakescope keys create`).",
        # The bundled Swagger/ReDoc pages load their scripts from a CDN: the service stays
        # offline and serves only /openapi.json.
        docs_url=None, redoc_url=None,
    )
    app.state.service = service
    app.state.live = live

    @app.exception_handler(DBAPIError)
    async def database_down(_request: Any, exc: DBAPIError) -> JSONResponse:
        # A database that cannot be reached is a temporary failure: nothing was recorded,
        # the client may retry; the driver's text (host names, SQL) stays in the log.
        log.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
        return JSONResponse({"detail": "the database is unavailable: nothing was recorded, retry later"},
                            status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, and a NaN in it is no JSON (it was a 500).
        return JSONResponse({"detail": _finite(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route that matched the path; a
            # path served by several (GET and POST /v1/scans) must list every one it takes,
            # as the OpenAPI document does.
            for template, operations in app.openapi()["paths"].items():
                if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path):
                    headers["Allow"] = ", ".join(sorted(m.upper() for m in operations))
                    break
        return await http_exception_handler(request,
                                            StarletteHTTPException(exc.status_code, exc.detail, headers))

    app.include_router(router)
    app.include_router(live_router)
    app.include_router(reviews_router)
    app.include_router(people_router)
    app.include_router(ops)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "x-api-key", "content-type", "idempotency-key"],
                           expose_headers=["location", "retry-after", "idempotent-replayed"])
    # Outermost but one: a refused host or cross-site write never reaches a route, and is
    # still counted by _Observe.
    app.add_middleware(BrowserGuard, settings=settings)
    app.add_middleware(_Observe, service=service)

    app.mount("/ui", StaticFiles(directory=STATIC), name="ui")
    check_folder = settings.check_folder
    if check_folder is not None:
        # The page checks files on the visitor's own device: the service never sees them.
        app.mount("/check", StaticFiles(directory=check_folder, html=True), name="check")
    else:
        @app.get("/check", include_in_schema=False)
        @app.get("/check/", include_in_schema=False)
        def check_missing() -> HTMLResponse:
            return HTMLResponse(_CHECK_MISSING, status_code=404)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/ui/favicon.svg")

    return app
