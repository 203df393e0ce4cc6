"""The web pages: check a report, check a batch, the check history, a kept check and its
side-by-side view, the corpus. Server-rendered, so they read without JavaScript; the scripts in
/static add progress, sorting and the write actions (which send the API key).

The forms post here when scripts are off: the check is made, kept, and the browser is sent to
its permalink (303). Errors come back as a page, not as the API's JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api.access import (
    allow,
    check_collections,
    may_read_checks,
    principal_of,
    rate_limited,
    readable,
)
from app.api.deps import (
    LIST_FIELDS,
    TITLE_MAX,
    history_of,
    options_of,
    read_form,
    service_of,
    settings_of,
    validated,
)
from app.api.errors import ApiError, status_of
from app.api.models import BatchRequest, CheckRequest, ReferenceSummary
from app.api.recording import record_batch, record_report
from app.api.routers.history import stored_check
from app.api.search import search
from app.api.uploads import report_ids, with_documents
from app.collections import TEMPLATES
from app.core import ChachongError, CheckResult, CrossResult, require_text
from app.core.readers import (
    ARCHIVE_SUFFIX,
    REFERENCE_SUFFIXES,
    REPORT_SUFFIXES,
)
from app.core.readers import (
    SUPPORTED as DOCUMENT_SUFFIXES,
)
from app.history import EVERYONE, StoredBatch, StoredReport
from app.reports.html import LABELS, render_batch_html, render_html, report_context, source_colours
from app.web.compare import compare
from app.web.render import STATIC, render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(rate_limited)])
PAGE_SIZE = 50
MATRIX_MAX = 40  # reports; a larger batch shows the list of pairs only


# what the file pickers offer: a report, a batch (or a .zip of it), a reference (not an image)
ACCEPT = {"report": ",".join(DOCUMENT_SUFFIXES),
          "batch": ",".join(REPORT_SUFFIXES),
          "reference": ",".join([*REFERENCE_SUFFIXES, ARCHIVE_SUFFIX])}


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _common(request: Request, nav: str = "") -> dict[str, Any]:
    settings = settings_of(request)
    history = history_of(request)
    return {"nav": nav, "version": __version__,
            "history_days": history.days if history.enabled else 0,
            "ocr": settings.ocr, "accept": ACCEPT,
            "defaults": {"threshold": settings.threshold,
                         "min_match_chars": settings.min_match_chars,
                         "common_share": settings.common_share,
                         "formula_share": settings.formula_share,
                         "formula_min_refs": settings.formula_min_refs,
                         "count_formulas": settings.count_formulas,
                         "exclude_quotes": settings.exclude_quotes}}


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    return render_page("error.html.j2", status, code=code, message=message,
                       back=request.headers.get("referer", "/") if request.method == "POST"
                       else "/", **_common(request))


async def _guarded(request: Request, make: Callable[[], Awaitable[Response]]) -> Response:
    """The page, or an error page with the API's status, code and message."""
    try:
        return await make()
    except ApiError as exc:
        return error_page(request, exc.status, exc.code, exc.message)
    except ChachongError as exc:
        return error_page(request, status_of(exc), exc.code, str(exc))
    except RequestValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_page(request, 422, "invalid_request",
                          f"{where or 'request'}: {first.get('msg', 'invalid value')}")


# --- checking -------------------------------------------------------------------------------

@router.get("/")
async def check_page(request: Request) -> HTMLResponse:
    return render_page("index.html.j2", **_common(request, "check"))


def _form_options(fields: dict[str, object]) -> tuple[dict[str, object], str, bool]:
    """A page form's fields as the API's: list fields one per line; the report language and
    whether to keep the check taken out."""
    lang = str(fields.pop("lang", "zh-CN"))
    keep = str(fields.pop("history", "true")) != "false"
    for key in LIST_FIELDS:
        values = fields.get(key)
        if isinstance(values, list):
            fields[key] = [line.strip() for v in values for line in str(v).splitlines()
                           if line.strip()]
    for key in ("unit", "author", "title"):
        if fields.get(key) == "":
            fields.pop(key)
    return fields, lang if lang in LABELS else "zh-CN", keep


@router.post("/")
async def check_form(request: Request) -> Response:
    async def make() -> Response:
        compared = await run_in_threadpool(check_collections, request, None)
        uploaded, fields = await read_form(request, "file")
        fields, lang, keep = _form_options(fields)
        if uploaded.documents:
            name, text = uploaded.names[0], uploaded.texts[0]
            fields["title"] = Path(name).name[:TITLE_MAX]
        else:
            text = str(fields.get("text", ""))
            require_text(text, "text")
        body = validated(CheckRequest, {**fields, "text": text})
        service = service_of(request)
        result = await run_in_threadpool(service.check, body.text, options_of(request, body),
                                         body.title, compared)
        if uploaded.documents:
            result = result.model_copy(update={"document": uploaded.info(0)})
        check_id = (await run_in_threadpool(
            record_report, history_of(request), service, body.text, body.title, result, body,
            owner=principal_of(request).key_id, readable=lambda c: readable(request, c))
                    if keep else None)
        if check_id is not None:
            return RedirectResponse(f"/checks/{check_id}?lang={lang}", status_code=303)
        return HTMLResponse(render_html(result, body.text, lang, name=body.title))

    return await _guarded(request, make)


@router.get("/batch")
async def batch_page(request: Request) -> HTMLResponse:
    return render_page("batch.html.j2", **_common(request, "batch"))


@router.post("/batch")
async def batch_form(request: Request) -> Response:
    async def make() -> Response:
        compared = await run_in_threadpool(check_collections, request, None)
        uploaded, fields = await read_form(request, "files", archives=True)
        if not uploaded.documents:
            raise ApiError(422, "missing_file", "choose the reports to check (or one .zip)")
        fields, lang, keep = _form_options(fields)
        names = [Path(name).name[:TITLE_MAX] for name in uploaded.names]
        body = validated(BatchRequest, {**fields, "reports": [
            {"id": rid, "text": text} for rid, text in zip(report_ids(uploaded.names),
                                                           uploaded.texts, strict=True)]})
        reports = [(r.id, names[i], r.text) for i, r in enumerate(body.reports)]
        service = service_of(request)
        cross = await run_in_threadpool(service.cross_check,
                                        [(rid, text) for rid, _, text in reports],
                                        options_of(request, body), None, compared)
        cross = with_documents(cross, uploaded)
        kept = (await run_in_threadpool(
            record_batch, history_of(request), service, reports, cross, body,
            owner=principal_of(request).key_id, readable=lambda c: readable(request, c))
                if keep else None)
        if kept is not None:
            return RedirectResponse(f"/checks/{kept[0]}", status_code=303)
        return HTMLResponse(render_batch_html(cross, lang))

    return await _guarded(request, make)


# --- the history ----------------------------------------------------------------------------

@router.get("/checks")
async def history_page(request: Request,
                       offset: Annotated[int, Query(ge=0, le=2**31)] = 0) -> Response:
    async def make() -> Response:
        who = await run_in_threadpool(may_read_checks, request)
        total, items = await run_in_threadpool(history_of(request).recent, offset, PAGE_SIZE,
                                               EVERYONE if who.admin else who.key_id)
        return render_page("checks.html.j2", total=total, items=items, offset=offset,
                           limit=PAGE_SIZE, query="", **_common(request, "history"))

    return await _guarded(request, make)


def _matrix(cross: CrossResult) -> dict[str, Any] | None:
    ids = [r.id for r in cross.reports]
    if len(ids) > MATRIX_MAX:
        return None
    shares = {(p.report, p.source): p.copy_ratio for p in cross.pairs}
    return {"ids": ids, "rows": [(a, [None if a == b else shares.get((a, b), 0.0) for b in ids])
                                 for a in ids]}


def _batch_rows(stored: StoredBatch) -> list[dict[str, Any]]:
    out = []
    for report in stored.reports:
        result = report.body.result
        out.append({"id": report.body.report_id, "name": report.summary.title,
                    "check": report.summary.id, "ratio": result.copy_ratio,
                    "verdict": result.verdict,
                    "main": max(result.sources, key=lambda s: s.copied_chars, default=None)})
    return out


@router.get("/checks/{check_id}")
async def kept_check_page(request: Request, check_id: str, lang: str = "zh-CN") -> Response:
    async def make() -> Response:
        await run_in_threadpool(may_read_checks, request)
        stored = await run_in_threadpool(stored_check, request, check_id)
        common = _common(request, "history")
        if isinstance(stored, StoredBatch):
            cross = stored.cross()
            return render_page("batch_check.html.j2", summary=stored.summary,
                               rows=_batch_rows(stored), pairs=cross.pairs,
                               matrix=_matrix(cross), t=LABELS["zh-CN"], **common)
        body = stored.body

        def compare_url(source_id: str) -> str:
            return f"/checks/{check_id}/compare?source={quote(source_id, safe='')}"

        context = report_context(body.result, body.text, lang, stored.summary.title,
                                 compare_url)
        return render_page("check.html.j2", summary=stored.summary, options=body.options,
                           **{**common, **context})

    return await _guarded(request, make)


def _main_source(result: CheckResult) -> str | None:
    main = max(result.sources, key=lambda s: s.copied_chars, default=None)
    return main.id if main else None


@router.get("/checks/{check_id}/compare")
async def compare_page(request: Request, check_id: str, source: str | None = None) -> Response:
    async def make() -> Response:
        await run_in_threadpool(may_read_checks, request)
        stored = await run_in_threadpool(stored_check, request, check_id)
        if not isinstance(stored, StoredReport):
            raise ApiError(422, "not_a_report", "a batch has no side-by-side view; open one of "
                           "its reports")
        body = stored.body
        source_id = source or _main_source(body.result)
        ids = {s.id for s in body.result.sources}
        if source_id is None or source_id not in ids:
            raise ApiError(404, "not_found", f"this check copied nothing from '{source}'"
                           if source else "this check copied from no source")
        share = next(s for s in body.result.sources if s.id == source_id)
        # the whole source only for a caller who may read its collection
        kept = body.sources.get(source_id) if readable(request, share.collection) else None
        view = compare(body.text, body.result, source_id, kept.text if kept else None)
        return render_page("compare.html.j2", summary=stored.summary, result=body.result,
                           view=view, colour=source_colours(body.result)[source_id],
                           **_common(request, "history"))

    return await _guarded(request, make)


# --- the corpus -----------------------------------------------------------------------------

@router.get("/corpus")
async def corpus_page(request: Request, q: str = "",
                      offset: Annotated[int, Query(ge=0, le=2**31)] = 0) -> Response:
    async def make() -> Response:
        await run_in_threadpool(allow, request, "read", TEMPLATES)
        service = service_of(request)
        query = q.strip()[:200]
        if query:
            total, refs = await run_in_threadpool(search, service, query, offset, PAGE_SIZE)
        else:
            total, refs = await run_in_threadpool(service.list, offset, PAGE_SIZE)
        size = await run_in_threadpool(service.size)
        return render_page("corpus.html.j2", items=[ReferenceSummary(**vars(r)) for r in refs],
                           total=total, size=size, q=query, offset=offset, limit=PAGE_SIZE,
                           query=urlencode({"q": query}) + "&" if query else "",
                           base_ids=service.base, **_common(request, "corpus"))

    return await _guarded(request, make)


@router.get("/corpus/{ref_id}")
async def reference_page(request: Request, ref_id: str) -> Response:
    async def make() -> Response:
        await run_in_threadpool(allow, request, "read", TEMPLATES)
        service = service_of(request)
        ref = await run_in_threadpool(service.get, ref_id)
        return render_page("reference.html.j2", ref=ref, base=ref_id in service.base,
                           **_common(request, "corpus"))

    return await _guarded(request, make)
