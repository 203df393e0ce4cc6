"""Checking reports: one report, or a batch against the corpus and against each other.

Every check is kept in the check history unless the request says ``history=false`` (or the
server keeps none): its permalink is the answer's ``Content-Location``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.api import metrics
from app.api.access import (
    allow,
    audit,
    audit_of,
    check_collections,
    client_of,
    operation,
    principal_of,
    rate_limited,
    readable,
)
from app.api.batch_stream import stream_batch
from app.api.deps import (
    TITLE_MAX,
    OcrParam,
    history_of,
    media_type,
    options_of,
    read_form,
    read_json,
    service_of,
    validated,
    wants_html,
)
from app.api.errors import ApiError
from app.api.files import PDF, file_response
from app.api.models import BatchRequest, CheckRequest, ReferenceIn
from app.api.recording import record_batch, record_report
from app.api.responses import BATCH_FORMATS, ERRORS, HTML_TOO, PDF_TOO
from app.api.uploads import Uploaded, report_ids, with_documents
from app.collections import TEMPLATES, source_key
from app.core import CheckResult, CrossResult, Reference, require_text
from app.core.readers import Extracted
from app.reports.exports import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx
from app.reports.html import render_batch_html, render_html
from app.reports.pdf import render_batch_pdf, render_pdf

router = APIRouter(tags=["checks"], dependencies=[Depends(rate_limited)])

KeepParam = Annotated[bool, Query(
    alias="history", description="Keep the result in the check history, with a permalink "
    "(the answer's Content-Location, /v1/checks/{id}); false keeps nothing.")]
LangParam = Annotated[Literal["zh-CN", "en"], Query(
    description="Language of the html and pdf reports and of the spreadsheets.")]
CollectionsParam = Annotated[list[str] | None, Query(
    max_length=16, description="Collections to compare the report with (repeat the "
    "parameter); default: the server's CHACHONG_CHECK_COLLECTIONS, every collection the key "
    "may check.")]


@router.post("/v1/check", operation_id="check", response_model=CheckResult,
             responses={**ERRORS, **HTML_TOO, **PDF_TOO},
             summary="Check a report (JSON body or multipart upload)",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/CheckRequest"}},
                 "multipart/form-data": {"schema": {
                     "type": "object",
                     "properties": {
                         "file": {"type": "string", "format": "binary"},
                         "text": {"type": "string", "description": "The report, when no file "
                                  "is sent."},
                         "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                         "min_match_chars": {"type": "integer", "minimum": 8},
                         "title": {"type": "string"}}}}}}})
async def check(request: Request,
                store: Annotated[bool, Query(description="Add the report to the corpus "
                                                         "after checking (needs a key).")]
                = False,
                ref_id: Annotated[str | None, Query(alias="id", description="Id to store "
                                                    "it under (with store=true).")] = None,
                fmt: Annotated[Literal["json", "html", "pdf"] | None, Query(
                    alias="format", description="json (default), an html report or a pdf; "
                    "'Accept: text/html' asks for html too.")] = None,
                lang: LangParam = "zh-CN",
                keep: KeepParam = True,
                collections: CollectionsParam = None,
                store_in: Annotated[str, Query(max_length=63, description="The collection to "
                                               "store the report in (with store=true).")]
                = TEMPLATES,
                ocr: OcrParam = False,
                ) -> Response | CheckResult:
    service = service_of(request)
    body, document = await _check_body(request, ocr)
    if store:
        await run_in_threadpool(allow, request, "write", store_in)
    compared = await run_in_threadpool(check_collections, request, collections)
    options = options_of(request, body)
    ref = (validated(ReferenceIn, {"id": ref_id or f"report-{time.time_ns()}",
                                   "text": body.text, "title": body.title or "",
                                   "source": "checked report"}) if store else None)
    result = await run_in_threadpool(service.check, body.text, options, body.title, compared)
    if document is not None:
        result = result.model_copy(update={"document": document.info()})
    metrics.CHECKS.inc()
    stored_id: str | None = None
    if ref is not None:
        await run_in_threadpool(service.add, Reference(ref.id, ref.text, ref.title,
                                                       ref.source, ref.tags), store_in)
        stored_id = ref.id
    # kept last: a request that fails keeps nothing
    check_id = (await run_in_threadpool(
        record_report, history_of(request), service, body.text, body.title, result, body,
        owner=principal_of(request).key_id, readable=lambda c: readable(request, c),
        stored=source_key(store_in, stored_id) if stored_id else None) if keep else None)
    await audit(request, collection=",".join(compared), target=",".join(
        t for t in (check_id, stored_id and source_key(store_in, stored_id)) if t) or None)
    response: Response
    if fmt == "pdf":
        pdf = await run_in_threadpool(render_pdf, result, body.text, lang, body.title)
        response = file_response(pdf, PDF, f"{Path(body.title or 'report').stem}.pdf",
                                 inline=True)
    elif wants_html(request, fmt):
        response = HTMLResponse(render_html(result, body.text, lang, name=body.title))
    else:
        response = JSONResponse(result.model_dump(mode="json"))
    if check_id is not None:
        response.headers["Content-Location"] = f"/v1/checks/{check_id}"
    if stored_id is not None:
        # ids may be Chinese; a header carries only latin-1, so the path is percent-encoded
        place = "/v1/references" if store_in == TEMPLATES else \
            f"/v1/collections/{store_in}/references"
        response.headers["Location"] = f"{place}/{quote(stored_id, safe='')}"
    return response


async def _check_body(request: Request, ocr: bool) -> tuple[CheckRequest, Extracted | None]:
    """The check asked for, and how its file was read (None for text sent as text)."""
    kind = media_type(request)
    if kind == "application/json":
        body = validated(CheckRequest, await read_json(request))
        require_text(body.text, "text")
        return body, None
    if kind == "multipart/form-data":
        uploaded, fields = await read_form(request, "file", ocr=ocr)
        if uploaded.documents:
            name, document = uploaded.documents[0]
            fields.setdefault("title", Path(name).name[:TITLE_MAX])
            # the file is the report: a form field called text does not replace it
            return validated(CheckRequest, {**fields, "text": document.text}), document
        if isinstance(fields.get("text"), str) and str(fields["text"]).strip():
            # a web form's text box, no file chosen
            return validated(CheckRequest, fields), None
        raise ApiError(422, "missing_file", "send the report as the multipart field 'file' "
                       "(or its text as the field 'text')")
    raise ApiError(415, "unsupported_media_type",
                   "send application/json {\"text\": ...} or multipart/form-data with a "
                   "'file' field (a report: .txt, .md, .docx, .doc, .wps, .odt, .rtf, .pdf, "
                   ".ofd, .html, or an image with ocr=true)")


BatchFormat = Literal["json", "html", "pdf", "csv", "xlsx", "ndjson"]


@router.post("/v1/check/batch", operation_id="check_batch", response_model=CrossResult,
             responses={**ERRORS, **BATCH_FORMATS},
             summary="Check a batch against the corpus and against each other",
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}},
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["files"],
                     "properties": {"files": {
                         "type": "array", "description": "Reports (.txt, .md, .docx, .doc, "
                         ".wps, .odt, .rtf, .pdf, .ofd, .html), or .zip archives of them; each "
                         "report's id is made from its file name.",
                         "items": {"type": "string", "format": "binary"}}}}}}}})
async def check_batch(request: Request,
                      fmt: Annotated[BatchFormat | None, Query(
                          alias="format", description="json (default), html, pdf, csv, "
                          "xlsx, or ndjson: one JSON line per report as it is checked, then "
                          "the pairs.")] = None,
                      lang: LangParam = "zh-CN",
                      keep: KeepParam = True,
                      collections: CollectionsParam = None,
                      ocr: OcrParam = False,
                      ) -> Response | CrossResult:
    kind = media_type(request)
    uploaded: Uploaded | None = None
    if kind == "application/json":
        raw = await read_json(request)
        names: list[str] | None = None
    elif kind == "multipart/form-data":
        uploaded, fields = await read_form(request, "files", archives=True, ocr=ocr)
        if not uploaded.documents:
            raise ApiError(422, "missing_file", "send the reports as repeated 'files' fields "
                           "(or one .zip of them)")
        names = [Path(name).name[:TITLE_MAX] for name in uploaded.names]
        raw = {**fields, "reports": [{"id": rid, "text": text} for rid, text in zip(
            report_ids(uploaded.names), uploaded.texts, strict=True)]}
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json {\"reports\": [...]} or multipart 'files'")
    body = validated(BatchRequest, raw)
    compared = await run_in_threadpool(check_collections, request, collections)
    options = options_of(request, body)
    reports = [(r.id, (names[i] if names else r.id), require_text(r.text, r.id))
               for i, r in enumerate(body.reports)]
    service = service_of(request)
    history = history_of(request) if keep else None
    who = principal_of(request)

    def may_read(collection: str | None) -> bool:
        return readable(request, collection)

    if fmt == "ndjson":
        log, action, client = audit_of(request), operation(request), client_of(request)

        def on_kept(check_id: str | None) -> None:
            log.record(key=who.key_id, action=action, collection=",".join(compared),
                       target=check_id, client=client)

        return stream_batch(service, history, reports, options, body, uploaded,
                            compared=compared, owner=who.key_id, readable=may_read,
                            on_kept=on_kept)
    cross = await run_in_threadpool(service.cross_check, [(rid, text) for rid, _, text in reports],
                                    options, None, compared)
    if uploaded is not None:
        cross = with_documents(cross, uploaded)
    metrics.CHECKS.inc(len(reports))
    kept = (await run_in_threadpool(record_batch, history, service, reports, cross, body,
                                    owner=who.key_id, readable=may_read)
            if history is not None else None)
    await audit(request, collection=",".join(compared), target=kept[0] if kept else None)
    response = await _batch_response(request, cross, fmt, lang, kept)
    if kept is not None:
        response.headers["Content-Location"] = f"/v1/checks/{kept[0]}"
    return response


async def _batch_response(request: Request, cross: CrossResult, fmt: BatchFormat | None,
                          lang: str, kept: tuple[str, dict[str, str]] | None) -> Response:
    base = str(request.base_url).rstrip("/")
    checks = kept[1] if kept else {}

    def link(rid: str) -> str:
        return f"{base}/checks/{checks[rid]}" if rid in checks else ""

    if fmt == "csv":
        return file_response(to_csv(cross, lang, link), CSV_TYPE, "chachong-batch.csv")
    if fmt == "xlsx":
        data = await run_in_threadpool(to_xlsx, cross, lang, link)
        return file_response(data, XLSX_TYPE, "chachong-batch.xlsx")
    if fmt == "pdf":
        pdf = await run_in_threadpool(render_batch_pdf, cross, lang)
        return file_response(pdf, PDF, "chachong-batch.pdf", inline=True)
    if wants_html(request, fmt):
        return HTMLResponse(render_batch_html(cross, lang))
    return JSONResponse(cross.model_dump(mode="json"))

