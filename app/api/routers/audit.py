"""The audit trail (admin): entries in the order they were made, paged, or exported whole as
newline-delimited JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from app.access.audit import AuditEntry, AuditFilter, ndjson_line
from app.api.access import audit_of, needs_admin, rate_limited
from app.api.models import AuditEntryOut, AuditPage
from app.api.responses import ERRORS

router = APIRouter(tags=["audit"], dependencies=[Depends(rate_limited), Depends(needs_admin)])
_CSV_COLUMNS = ["seq", "time", "key", "action", "outcome", "status", "collection", "target",
                "client"]
EXPORTS: dict[int | str, dict] = {200: {
    "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}}},
    "description": "The entries (JSON), or with format= every entry that matches as ndjson or "
                   "csv."}}


def _csv_rows(entries: Iterator[AuditEntry]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_COLUMNS)
    for entry in entries:
        writer.writerow([getattr(entry, c) if getattr(entry, c) is not None else ""
                         for c in _CSV_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


@router.get("/v1/audit", operation_id="list_audit", response_model=AuditPage,
            responses={**ERRORS, **EXPORTS},
            summary="The audit trail, oldest first (paged), or exported whole")
async def list_audit(request: Request,
                     offset: Annotated[int, Query(ge=0, le=2**40)] = 0,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     since: Annotated[datetime | None, Query(description="From this time.")]
                     = None,
                     until: Annotated[datetime | None, Query(description="Before this time.")]
                     = None,
                     key: Annotated[str | None, Query(max_length=64)] = None,
                     action: Annotated[str | None, Query(max_length=64)] = None,
                     collection: Annotated[str | None, Query(max_length=63)] = None,
                     fmt: Annotated[Literal["json", "ndjson", "csv"], Query(
                         alias="format", description="json (a page), or every entry that "
                         "matches as ndjson or csv.")] = "json",
                     ) -> Response | AuditPage:
    where = AuditFilter(since.timestamp() if since else None,
                        until.timestamp() if until else None, key, action, collection)
    log = audit_of(request)
    if fmt == "ndjson":
        lines = (ndjson_line(e) for e in log.entries(where))
        return StreamingResponse(iterate_in_threadpool(lines), media_type="application/x-ndjson",
                                 headers={"Content-Disposition":
                                          'attachment; filename="chachong-audit.ndjson"'})
    if fmt == "csv":
        return StreamingResponse(iterate_in_threadpool(_csv_rows(log.entries(where))),
                                 media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition":
                                          'attachment; filename="chachong-audit.csv"'})
    total, entries = await run_in_threadpool(log.page, offset, limit, where)
    return AuditPage(total=total, offset=offset, limit=limit,
                     items=[AuditEntryOut.model_validate(e.as_dict()) for e in entries])
