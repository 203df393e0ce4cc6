"""FastAPI adapter: the app factory. Routes live in ``app.api.routers``, one module per resource;
access is a dependency declared on each route (``app.api.deps``).

Started by ``chachong serve`` (uvicorn, ``create_app`` as factory so every worker builds its own
index from the same settings and store).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.access import AuditLog, KeyStore
from app.api import metrics
from app.api.access import RateLimits
from app.api.errors import ApiError, error_response, status_of
from app.api.limits import BodySizeLimit
from app.api.models import BatchRequest, CheckRequest, ReferenceBatch, ReferenceIn
from app.api.routers import audit, checks, collections, history, keys, operations, pages, references
from app.core import ChachongError, build_index, load_corpus
from app.core.errors import StoreUnavailableError
from app.history import CheckHistory
from app.service import BaseCorpus, CorpusService
from app.settings import Settings
from app.storage import FlushPolicy, LiveIndex, MergePolicy
from app.storage.bundled import bundled_index
from app.storage.migrate import migrate_redis, migrate_store
from app.storage.shared_log import SharedLog

log = logging.getLogger("chachong.api")
RETRY_AFTER_S = 2
INDEX_FOLDER = "index"  # the data folder's index of the references added through the API


def load_base(settings: Settings) -> BaseCorpus:
    """The base corpus: a saved index (read-only), a folder, or the bundled templates."""
    if settings.index is not None:
        return BaseCorpus(LiveIndex(settings.index, slot_base=0, readonly=True))
    if settings.corpus is not None:
        return BaseCorpus(build_index(load_corpus(settings.corpus)))
    return BaseCorpus(bundled_index())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.data.mkdir(parents=True, exist_ok=True)
    shared = SharedLog(settings.store) if settings.store else None
    service = CorpusService(load_base(settings), settings.data / INDEX_FOLDER,
                            FlushPolicy(settings.flush_docs, settings.flush_seconds), shared,
                            MergePolicy(expunge_seconds=settings.expunge_seconds,
                                        quiet_seconds=settings.quiet_merge_seconds))
    with contextlib.suppress(StoreUnavailableError):  # answered 503 until the store is back
        migrate_store(settings.data, service.live)
        migrate_redis(service.live)
        metrics.CORPUS_SIZE.set(service.size())  # the collections' registry is in the store

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        await run_in_threadpool(service.stop)  # the log's tail into a segment

    # the API's documentation page loads Swagger UI from a package, not from a CDN: intranets
    # are offline (no ReDoc: its page fetches a logo from the internet)
    app = FastAPIOffline(
        redoc_url=None,
        title="chachong",
        version=__version__,
        description="Checks Chinese work reports for near-copied boilerplate, paragraph by "
                    "paragraph, against a growing reference corpus.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.history = CheckHistory(settings.data, settings.history_days, settings.history_max)
    app.state.history.purge()
    app.state.keys = KeyStore(settings.data)
    app.state.audit = AuditLog(settings.data)
    app.state.limits = RateLimits(settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Content-Location", "Location"])
    app.middleware("http")(_observe)
    _add_error_handlers(app)
    for module in (pages, operations, checks, history, references, collections, keys, audit):
        app.include_router(module.router)
    pages.mount_static(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                   ) -> Response:
    """Every request counted, timed and logged as one JSON line."""
    t0 = time.perf_counter()
    response = await call_next(request)
    elapsed = time.perf_counter() - t0
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    metrics.REQUESTS.labels(request.method, path, str(response.status_code)).inc()
    metrics.LATENCY.labels(request.method, path).observe(elapsed)
    log.info("request", extra={"method": request.method, "path": path,
                               "status": response.status_code, "ms": round(elapsed * 1000, 1)})
    return response


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON with a stable code."""

    @app.exception_handler(ChachongError)
    async def on_domain_error(_: Request, exc: ChachongError) -> JSONResponse:
        status = status_of(exc)
        # the shared store fails over within seconds: say when to try again
        retry = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        return error_response(status, exc.code, str(exc), retry)

    @app.exception_handler(ApiError)
    async def on_api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(422, "invalid_request",
                              f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the request models that the routes parse by hand (they accept
    JSON or multipart on one path)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        _, defs = models_json_schema(
            [(model, "validation") for model in (CheckRequest, BatchRequest, ReferenceIn,
                                                 ReferenceBatch)],
            ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = schema
    return app.openapi_schema
