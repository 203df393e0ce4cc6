"""FastAPI adapter: parse the request, call the core through CorpusService, format the answer.

Started by ``chachong serve`` (uvicorn, ``create_app`` as factory so every worker builds its own
index from the same settings and store).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api import metrics
from app.api.errors import ApiError, error_response, status_of
from app.api.limits import BodySizeLimit
from app.api.models import (
    BatchRequest,
    CheckRequest,
    ErrorResponse,
    ReferenceIn,
    ReferenceOut,
    ReferencePage,
    ReferenceSummary,
)
from app.core import (
    ChachongError,
    CheckOptions,
    CheckResult,
    CrossResult,
    Reference,
    ReferenceIndex,
    build_index,
    bundled_corpus_dir,
    load_corpus,
    require_text,
)
from app.core.readers import Extracted, extract, extract_all, is_archive
from app.core.readers.ocr import missing as ocr_missing
from app.core.readers.office import soffice
from app.options import CheckOverrides, check_options
from app.reports.html import render_batch_html, render_html
from app.service import CorpusService, SharedCorpusService
from app.settings import Settings
from app.shared_index import RedisIndex
from app.store import SqliteStore

log = logging.getLogger("chachong.api")
LIST_FIELDS = ("exclude_sources", "stock_phrases")
READ_FIELDS = ("ocr",)  # form fields about reading the file, not options of the check
OCR_QUERY = Query(description="Recognise scanned PDFs and images with OCR (slow; the server "
                  "must allow it with CHACHONG_OCR=true). A form field 'ocr' does the same.")
TITLE_MAX = 200
WEB_PAGE = Path(__file__).resolve().parents[1] / "web" / "static" / "index.html"

ERRORS: dict[int | str, dict] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422, 501)
}


M = TypeVar("M", bound=BaseModel)
HTML_TOO: dict[int | str, dict] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "The result (JSON), or the HTML report with format=html or "
                         "Accept: text/html."}}


def _load_index(settings: Settings) -> ReferenceIndex:
    if settings.index is not None:
        return ReferenceIndex.load(settings.index)
    return build_index(load_corpus(settings.corpus or bundled_corpus_dir()))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    service: CorpusService | SharedCorpusService
    if settings.store:
        service = SharedCorpusService(_load_index(settings), RedisIndex(settings.store))
    else:
        service = CorpusService(_load_index(settings), SqliteStore(settings.data))
    metrics.CORPUS_SIZE.set(service.size())

    app = FastAPI(
        title="chachong",
        version=__version__,
        description="Checks Chinese work reports for near-copied boilerplate, paragraph by "
                    "paragraph, against a growing reference corpus.",
    )
    app.state.service = service
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - t0
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        metrics.LATENCY.labels(request.method, path).observe(elapsed)
        log.info("request", extra={"method": request.method, "path": path,
                                   "status": response.status_code,
                                   "ms": round(elapsed * 1000, 1)})
        return response

    @app.exception_handler(ChachongError)
    async def on_domain_error(_: Request, exc: ChachongError) -> JSONResponse:
        return error_response(status_of(exc), exc.code, str(exc))

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

    def _key_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        # compare against every key, in constant time, so timing reveals nothing
        matches = [hmac.compare_digest(token.encode(), k.encode()) for k in settings.keys]
        return any(matches)

    def require_key(request: Request) -> None:
        if not request.headers.get("authorization"):
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <API key>'",
                           {"WWW-Authenticate": "Bearer"})
        if not _key_ok(request):
            raise ApiError(403, "forbidden", "the API key is not valid")

    def require_writer(request: Request) -> None:
        if not settings.keys:
            raise ApiError(403, "writes_disabled",
                           "changing the corpus needs an API key, and none is configured: set "
                           "CHACHONG_API_KEYS=<key> when starting the server")
        require_key(request)

    def require_reader(request: Request) -> None:
        if settings.protect_reads:
            require_key(request)

    def options_of(overrides: CheckOverrides) -> CheckOptions:
        try:
            return check_options(settings, overrides)
        except ValueError as exc:
            raise ApiError(422, "invalid_option", str(exc)) from None

    async def read_json(request: Request) -> Any:
        try:
            return await request.json()
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
            raise ApiError(400, "invalid_json", "the body is not valid JSON (or is nested too "
                           "deeply)") from None

    async def read_form(request: Request, file_field: str
                        ) -> tuple[list[tuple[str, bytes]], dict[str, object]]:
        """(file name, bytes) of every upload in ``file_field`` and the form's other fields
        (repeatable ones as lists). The form, and its temporary files, are closed after."""
        async with request.form() as form:
            files = []
            for upload in form.getlist(file_field):
                if isinstance(upload, UploadFile):
                    files.append((upload.filename or "upload.txt", await upload.read()))
            fields: dict[str, object] = {
                k: v for k, v in form.items() if k != file_field and isinstance(v, str)}
            for key in LIST_FIELDS:
                if key in form:
                    fields[key] = [v for v in form.getlist(key) if isinstance(v, str)]
        return files, fields

    def wants_ocr(query: bool, fields: dict[str, object]) -> bool:
        """OCR asked for by the query or a form field; refused when the server does not
        allow it."""
        field = fields.pop("ocr", None)
        asked = query or (isinstance(field, str) and field.strip().lower() in
                          ("1", "true", "yes", "on"))
        if asked and not settings.ocr:
            raise ApiError(422, "ocr_disabled", "OCR is turned off on this server; its "
                           "operator can allow it with CHACHONG_OCR=true")
        return asked

    async def read_upload(name: str, data: bytes, ocr: bool) -> Extracted:
        """One uploaded document's text (conversions and OCR run off the event loop)."""
        extracted = await run_in_threadpool(extract, data, name, settings.read_options(ocr))
        require_text(extracted.text, name)
        return extracted

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB_PAGE, media_type="text/html; charset=utf-8")

    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The index is loaded",
             responses={503: {"model": ErrorResponse}})
    async def readyz() -> dict[str, object]:
        await run_in_threadpool(service.ready)
        return {"status": "ready", "references": service.size(), "readers": readers()}

    def readers() -> dict[str, object]:
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

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        metrics.CORPUS_SIZE.set(service.size())
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/check", tags=["check"], response_model=CheckResult,
              responses={**ERRORS, **HTML_TOO},
              summary="Check a report (JSON body or multipart upload)",
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}},
                  "multipart/form-data": {"schema": {
                      "type": "object", "required": ["file"],
                      "properties": {
                          "file": {"type": "string", "format": "binary"},
                          "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                          "min_match_chars": {"type": "integer", "minimum": 8},
                          "title": {"type": "string"}}}}}}})
    async def check(request: Request,
                    store: Annotated[bool, Query(description="Add the report to the corpus "
                                                             "after checking (needs a key).")]
                    = False,
                    ref_id: Annotated[str | None, Query(alias="id", description="Id to store "
                                                        "it under (with store=true).")] = None,
                    fmt: Annotated[Literal["json", "html"] | None, Query(
                        alias="format", description="json (default) or an html report; "
                        "'Accept: text/html' asks for html too.")] = None,
                    lang: Annotated[Literal["zh-CN", "en"], Query(
                        description="Language of the html report.")] = "zh-CN",
                    ocr: Annotated[bool, OCR_QUERY] = False,
                    _: None = Depends(require_reader)) -> Response | CheckResult:
        body, document = await _check_body(request, ocr)
        if store:
            require_writer(request)
        options = options_of(body)
        stored_id: str | None = None
        result = await run_in_threadpool(service.check, body.text, options, body.title)
        if document is not None:
            result = result.model_copy(update={"document": document.info()})
        metrics.CHECKS.inc()
        if store:
            ref = _validated(ReferenceIn, {"id": ref_id or f"report-{time.time_ns()}",
                                           "text": body.text, "title": body.title or "",
                                           "source": "checked report"})
            await run_in_threadpool(service.add, Reference(ref.id, ref.text, ref.title,
                                                           ref.source, ref.tags))
            stored_id = ref.id
        response: Response = (HTMLResponse(render_html(result, body.text, lang, name=body.title))
                              if _wants_html(request, fmt)
                              else JSONResponse(result.model_dump(mode="json")))
        if stored_id is not None:
            # ids may be Chinese; a header carries only latin-1, so the path is percent-encoded
            response.headers["Location"] = f"/v1/references/{quote(stored_id, safe='')}"
        return response

    async def _check_body(request: Request, ocr: bool
                          ) -> tuple[CheckRequest, Extracted | None]:
        kind = _media_type(request)
        if kind == "application/json":
            raw = await read_json(request)
            body = _validated(CheckRequest, raw)
            require_text(body.text, "text")
            return body, None
        if kind == "multipart/form-data":
            files, fields = await read_form(request, "file")
            if not files:
                raise ApiError(422, "missing_file", "send the report as the multipart field "
                               "'file'")
            name, data = files[0]
            document = await read_upload(name, data, wants_ocr(ocr, fields))
            fields.setdefault("title", Path(name).name[:TITLE_MAX])
            # the file is the report: a form field called text does not replace it
            return _validated(CheckRequest, {**fields, "text": document.text}), document
        raise ApiError(415, "unsupported_media_type",
                       "send application/json {\"text\": ...} or multipart/form-data with a "
                       "'file' field (a report: .txt, .md, .docx, .doc, .wps, .odt, .rtf, .pdf, "
                       ".ofd, .html, or an image with ocr=true)")

    @app.post("/v1/check/batch", tags=["check"], response_model=CrossResult,
              responses={**ERRORS, **HTML_TOO},
              summary="Check a batch against the corpus and against each other",
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}},
                  "multipart/form-data": {"schema": {
                      "type": "object", "required": ["files"],
                      "properties": {"files": {"type": "array", "items": {
                          "type": "string", "format": "binary"}}}}}}}})
    async def check_batch(request: Request,
                          fmt: Annotated[Literal["json", "html"] | None, Query(
                              alias="format", description="json (default) or html.")] = None,
                          lang: Annotated[Literal["zh-CN", "en"], Query()] = "zh-CN",
                          ocr: Annotated[bool, OCR_QUERY] = False,
                          _: None = Depends(require_reader)) -> Response | CrossResult:
        kind = _media_type(request)
        documents: dict[str, Extracted] = {}
        warnings: list[str] = []
        if kind == "application/json":
            raw = await read_json(request)
        elif kind == "multipart/form-data":
            files, fields = await read_form(request, "files")
            if not files:
                raise ApiError(422, "missing_file", "send the reports as repeated 'files' fields")
            reading = settings.read_options(wants_ocr(ocr, fields))
            for name, data in files:
                read, skipped = await run_in_threadpool(extract_all, data, name, reading)
                warnings += skipped
                for path, extracted in read:
                    require_text(extracted.text, path)
                    member = path[len(name) + 1:] if is_archive(name) else name
                    documents[_batch_id(member, documents)] = extracted
            raw = {**fields, "reports": [{"id": report_id, "text": extracted.text}
                                         for report_id, extracted in documents.items()]}
        else:
            raise ApiError(415, "unsupported_media_type",
                           "send application/json {\"reports\": [...]} or multipart 'files'")
        body = _validated(BatchRequest, raw)
        options = options_of(body)
        reports = [(r.id, require_text(r.text, r.id)) for r in body.reports]
        cross = await run_in_threadpool(service.cross_check, reports, options)
        if documents:
            cross = cross.model_copy(update={"warnings": warnings, "reports": [
                report.model_copy(update={"result": report.result.model_copy(
                    update={"document": documents[report.id].info()})})
                for report in cross.reports]})
        metrics.CHECKS.inc(len(reports))
        if _wants_html(request, fmt):
            return HTMLResponse(render_batch_html(cross, lang))
        return cross

    @app.get("/v1/references", tags=["references"], response_model=ReferencePage,
             responses=ERRORS, summary="List references (paged)")
    async def list_references(offset: Annotated[int, Query(ge=0)] = 0,
                              limit: Annotated[int, Query(ge=1, le=500)] = 50,
                              _: None = Depends(require_reader)) -> ReferencePage:
        total, refs = service.list(offset, limit)
        return ReferencePage(total=total, offset=offset, limit=limit,
                             items=[_summary(r) for r in refs])

    @app.get("/v1/references/{ref_id}", tags=["references"], response_model=ReferenceOut,
             responses=ERRORS, summary="One reference with its text")
    async def get_reference(ref_id: str, _: None = Depends(require_reader)) -> ReferenceOut:
        ref = service.get(ref_id)
        return ReferenceOut(**_summary(ref).model_dump(), text=ref.text)

    @app.post("/v1/references", tags=["references"], status_code=201,
              response_model=ReferenceSummary, responses=ERRORS,
              summary="Add a reference (JSON, or multipart with a file); searchable at once",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/ReferenceIn"}},
                  "multipart/form-data": {"schema": {
                      "type": "object", "required": ["file", "id"],
                      "properties": {
                          "file": {"type": "string", "format": "binary"},
                          "id": {"type": "string", "examples": ["2024-zuzhibu-shuzhi"]},
                          "title": {"type": "string"}, "source": {"type": "string"},
                          "tags": {"type": "string", "description": "JSON object or "
                                   "key=value pairs", "examples": ["unit=组织部,year=2024"]}}}}}}},
              dependencies=[Depends(require_writer)])
    async def add_reference(request: Request,
                            ocr: Annotated[bool, OCR_QUERY] = False) -> ReferenceSummary:
        kind = _media_type(request)
        if kind == "multipart/form-data":
            files, fields = await read_form(request, "file")
            if not files:
                raise ApiError(422, "missing_file", "send the reference as the field 'file'")
            name, data = files[0]
            document = await read_upload(name, data, wants_ocr(ocr, fields))
            tags = fields.get("tags")
            raw: object = {**fields, "text": document.text,
                           "tags": _tags(tags if isinstance(tags, str) else None)}
        elif kind == "application/json":
            raw = await read_json(request)
        else:
            raise ApiError(415, "unsupported_media_type",
                           "send application/json or multipart/form-data")
        body = _validated(ReferenceIn, raw)
        require_text(body.text, body.id)
        ref = Reference(body.id, body.text, body.title, body.source, body.tags)
        await run_in_threadpool(service.add, ref)
        metrics.CORPUS_SIZE.set(service.size())
        return _summary(ref)

    @app.delete("/v1/references/{ref_id}", tags=["references"], status_code=204,
                responses=ERRORS, summary="Delete a stored reference",
                dependencies=[Depends(require_writer)])
    async def delete_reference(ref_id: str) -> Response:
        await run_in_threadpool(service.delete, ref_id)
        metrics.CORPUS_SIZE.set(service.size())
        return Response(status_code=204)

    def openapi() -> dict[str, Any]:
        """The generated schema plus the request models that the routes parse by hand (they
        accept JSON or multipart on one path)."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            _, defs = models_json_schema(
                [(model, "validation") for model in (CheckRequest, BatchRequest, ReferenceIn)],
                ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _wants_html(request: Request, fmt: str | None) -> bool:
    return fmt == "html" or (fmt is None and "text/html" in request.headers.get("accept", ""))


def _validated(model: type[M], raw: object) -> M:
    """The request model, or the framework's own 422 for what does not fit it."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\u4e00-\u9fff]+")


def _batch_id(path: str, taken: dict[str, Extracted]) -> str:
    """A report id for an uploaded file or archive member: its path without the suffix, with
    what ids may not hold (spaces, slashes, full-width brackets) as '_'; unique in the batch."""
    stem = str(Path(path).with_suffix("")) if Path(path).suffix else path
    base = _ID_UNSAFE.sub("_", stem.replace("\\", "/")).strip("_.-")[:120] or "report"
    report_id, n = base, 1
    while report_id in taken:
        n += 1
        report_id = f"{base}-{n}"
    return report_id


def _summary(ref: Reference) -> ReferenceSummary:
    return ReferenceSummary(id=ref.id, title=ref.display_title, source=ref.source,
                            tags=ref.tags, chars=len(ref.text))


def _tags(raw: str | None) -> dict[str, str]:
    """Tags in a form field: JSON object, or comma-separated key=value pairs."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = dict(part.split("=", 1) for part in raw.split(",") if "=" in part)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_tags", "tags must be a JSON object or key=value pairs")
    return {str(k).strip(): str(v).strip() for k, v in data.items()}

