"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api import metrics
from app.api.deps import service_of, settings_of
from app.api.models import ErrorResponse
from app.core.errors import StoreUnavailableError
from app.core.readers.ocr import missing as ocr_missing
from app.core.readers.office import soffice
from app.settings import Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", summary="The index is loaded",
            responses={503: {"model": ErrorResponse}})
async def readyz(request: Request) -> dict[str, object]:
    service = service_of(request)
    await run_in_threadpool(service.ready)
    return {"status": "ready", "references": service.size(),
            "readers": readers(settings_of(request))}


def readers(settings: Settings) -> dict[str, object]:
    """Which optional readers this server has, and what a missing one needs."""
    missing: dict[str, str] = {}
    if soffice() is None:
        missing[".doc .wps .odt .rtf"] = ("LibreOffice is not installed (Debian: "
                                          "libreoffice-writer-nogui)")
    absent = ocr_missing()
    if absent:
        missing["OCR (.png .jpg, scanned .pdf)"] = (f"{', '.join(absent)} not installed "
                                                    "(pip install 'chachong[ocr]')")
    return {"ocr": "allowed" if settings.ocr else "off", "missing": missing}


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def prometheus(request: Request) -> Response:
    # the collections' registry may be in a shared store: while it is away the last size stays
    with contextlib.suppress(StoreUnavailableError):
        metrics.CORPUS_SIZE.set(await run_in_threadpool(service_of(request).size))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
