"""The check history: every check kept for CHACHONG_HISTORY_DAYS days, by its id.

A kept check belongs to the key that made it: that key and admin keys see it, list it and may
delete it. A check made without a key is seen by whoever may check without one (its id is 96
random bits, so only those given its link find it; open unless CHACHONG_PROTECT_READS) and
deleted with an admin key. Another caller gets 404, as for a check that does not exist.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.api.access import audit, may_read_checks, needs_key, principal_of, rate_limited, sees
from app.api.deps import history_of
from app.api.errors import ApiError
from app.api.files import PDF, file_response
from app.api.models import CheckPage, CheckRecord
from app.api.responses import BATCH_FORMATS, ERRORS
from app.history import EVERYONE, PartOfBatchError, StoredBatch, StoredReport
from app.reports.exports import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx
from app.reports.html import render_batch_html, render_html
from app.reports.pdf import render_batch_pdf, render_pdf

router = APIRouter(tags=["history"], dependencies=[Depends(rate_limited)])

CheckId = Annotated[str, Path(max_length=64, description="The id a check was given.",
                              examples=["a8Zr3kQm0xYp1cV7"])]


def stored_check(request: Request, check_id: str) -> StoredReport | StoredBatch:
    history = history_of(request)
    found = history.get(check_id)
    if found is None or not sees(principal_of(request), found.summary.owner):
        days = f"{history.days:g}"
        raise ApiError(404, "not_found", f"no check with id '{check_id}' (checks are kept "
                       f"{days} days, and may have been deleted)" if history.enabled else
                       "this server keeps no checks (CHACHONG_HISTORY_DAYS=0)")
    return found


def record_of(stored: StoredReport | StoredBatch) -> CheckRecord:
    base = stored.summary.model_dump()
    if isinstance(stored, StoredReport):
        return CheckRecord(**base, options=stored.body.options, text=stored.body.text,
                           result=stored.body.result)
    return CheckRecord(**base, options=stored.body.options, cross=stored.cross(),
                       checks={r.body.report_id or r.summary.title: r.summary.id
                               for r in stored.reports})


@router.get("/v1/checks", operation_id="list_checks", response_model=CheckPage,
            responses=ERRORS, summary="Recent checks, newest first (paged): the caller's own, "
            "or everyone's for an admin key", dependencies=[Depends(may_read_checks)])
async def list_checks(request: Request, offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50) -> CheckPage:
    who = principal_of(request)
    total, items = await run_in_threadpool(history_of(request).recent, offset, limit,
                                           EVERYONE if who.admin else who.key_id)
    return CheckPage(total=total, offset=offset, limit=limit, items=items)


@router.get("/v1/checks/{check_id}", operation_id="get_check", response_model=CheckRecord,
            responses={**ERRORS, **BATCH_FORMATS},
            summary="A kept check: JSON, its html or pdf report, or a batch's table",
            dependencies=[Depends(may_read_checks)])
async def get_check(request: Request, check_id: CheckId,
                    fmt: Annotated[Literal["json", "html", "pdf", "csv", "xlsx"], Query(
                        alias="format", description="json (default), html, pdf; csv and xlsx "
                        "for a batch.")] = "json",
                    lang: Annotated[Literal["zh-CN", "en"], Query()] = "zh-CN",
                    ) -> Response | CheckRecord:
    stored = await run_in_threadpool(stored_check, request, check_id)
    if isinstance(stored, StoredReport):
        return await _report_answer(stored, fmt, lang)
    return await _batch_answer(request, stored, fmt, lang)


async def _report_answer(stored: StoredReport, fmt: str, lang: str) -> Response | CheckRecord:
    body, title = stored.body, stored.summary.title
    if fmt == "html":
        return HTMLResponse(render_html(body.result, body.text, lang, name=title))
    if fmt == "pdf":
        pdf = await run_in_threadpool(render_pdf, body.result, body.text, lang, title)
        return file_response(pdf, PDF, f"{PurePath(title).stem or 'report'}.pdf", inline=True)
    if fmt in ("csv", "xlsx"):
        raise ApiError(422, "invalid_format", f"{fmt} is a batch's table; this check is one "
                       "report (json, html or pdf)")
    return record_of(stored)


async def _batch_answer(request: Request, stored: StoredBatch, fmt: str, lang: str
                        ) -> Response | CheckRecord:
    cross = stored.cross()
    checks = {r.body.report_id: r.summary.id for r in stored.reports}
    base = str(request.base_url).rstrip("/")

    def link(rid: str) -> str:
        return f"{base}/checks/{checks[rid]}" if rid in checks else ""

    name = f"chachong-{stored.summary.id}"
    if fmt == "html":
        return HTMLResponse(render_batch_html(cross, lang))
    if fmt == "pdf":
        pdf = await run_in_threadpool(render_batch_pdf, cross, lang)
        return file_response(pdf, PDF, f"{name}.pdf", inline=True)
    if fmt == "csv":
        return file_response(to_csv(cross, lang, link), CSV_TYPE, f"{name}.csv")
    if fmt == "xlsx":
        data = await run_in_threadpool(to_xlsx, cross, lang, link)
        return file_response(data, XLSX_TYPE, f"{name}.xlsx")
    return record_of(stored)


@router.delete("/v1/checks/{check_id}", operation_id="delete_check", status_code=204,
               responses=ERRORS, summary="Delete a kept check (a batch with its reports)",
               dependencies=[Depends(needs_key)])
async def delete_check(request: Request, check_id: CheckId) -> Response:
    """The key that made it or an admin key; a check made without a key, an admin key."""
    found = await run_in_threadpool(history_of(request).get, check_id)
    if found is None or not sees(principal_of(request), found.summary.owner):
        raise ApiError(404, "not_found", f"no check with id '{check_id}'")
    try:
        deleted = await run_in_threadpool(history_of(request).delete, check_id)
    except PartOfBatchError as exc:
        raise ApiError(409, "part_of_batch", f"check '{check_id}' is a report of batch "
                       f"'{exc.batch}'; delete the batch") from None
    if not deleted:
        raise ApiError(404, "not_found", f"no check with id '{check_id}'")
    await audit(request, target=check_id, status=204)
    return Response(status_code=204)
