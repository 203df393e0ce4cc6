"""Checking reports: one report, or a batch against the corpus and each other."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.api import metrics
from app.api.deps import (
    TITLE_MAX,
    media_type,
    options_of,
    read_form,
    read_json,
    require_reader,
    require_writer,
    service_of,
    validated,
    wants_html,
)
from app.api.errors import ApiError
from app.api.models import BatchRequest, CheckRequest, ReferenceIn
from app.api.responses import ERRORS, HTML_TOO
from app.core import CheckResult, CrossResult, Reference, require_text
from app.reports.html import render_batch_html, render_html

router = APIRouter(tags=["checks"], dependencies=[Depends(require_reader)])


@router.post("/v1/check", operation_id="check", response_model=CheckResult,
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
                ) -> Response | CheckResult:
    service = service_of(request)
    body = await _check_body(request)
    if store:
        require_writer(request)
    options = options_of(request, body)
    stored_id: str | None = None
    result = await run_in_threadpool(service.check, body.text, options, body.title)
    metrics.CHECKS.inc()
    if store:
        ref = validated(ReferenceIn, {"id": ref_id or f"report-{time.time_ns()}",
                                      "text": body.text, "title": body.title or "",
                                      "source": "checked report"})
        await run_in_threadpool(service.add, Reference(ref.id, ref.text, ref.title,
                                                       ref.source, ref.tags))
        stored_id = ref.id
    response: Response = (HTMLResponse(render_html(result, body.text, lang, name=body.title))
                          if wants_html(request, fmt)
                          else JSONResponse(result.model_dump(mode="json")))
    if stored_id is not None:
        # ids may be Chinese; a header carries only latin-1, so the path is percent-encoded
        response.headers["Location"] = f"/v1/references/{quote(stored_id, safe='')}"
    return response


async def _check_body(request: Request) -> CheckRequest:
    kind = media_type(request)
    if kind == "application/json":
        body = validated(CheckRequest, await read_json(request))
        require_text(body.text, "text")
        return body
    if kind == "multipart/form-data":
        files, fields = await read_form(request, "file")
        if not files:
            raise ApiError(422, "missing_file", "send the report as the multipart field "
                           "'file'")
        name, text = files[0]
        fields.setdefault("title", Path(name).name[:TITLE_MAX])
        # the file is the report: a form field called text does not replace it
        return validated(CheckRequest, {**fields, "text": text})
    raise ApiError(415, "unsupported_media_type",
                   "send application/json {\"text\": ...} or multipart/form-data with a "
                   "'file' field (.txt, .md, .docx, .pdf)")


@router.post("/v1/check/batch", operation_id="check_batch", response_model=CrossResult,
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
                      ) -> Response | CrossResult:
    kind = media_type(request)
    if kind == "application/json":
        raw = await read_json(request)
    elif kind == "multipart/form-data":
        files, fields = await read_form(request, "files")
        if not files:
            raise ApiError(422, "missing_file", "send the reports as repeated 'files' fields")
        raw = {**fields, "reports": [{"id": Path(name).stem, "text": text}
                                     for name, text in files]}
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json {\"reports\": [...]} or multipart 'files'")
    body = validated(BatchRequest, raw)
    options = options_of(request, body)
    reports = [(r.id, require_text(r.text, r.id)) for r in body.reports]
    cross = await run_in_threadpool(service_of(request).cross_check, reports, options)
    metrics.CHECKS.inc(len(reports))
    if wants_html(request, fmt):
        return HTMLResponse(render_batch_html(cross, lang))
    return cross
