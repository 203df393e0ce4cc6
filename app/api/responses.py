"""How the routes document their answers in the OpenAPI schema."""

from __future__ import annotations

from app.api.models import ErrorResponse

ERRORS: dict[int | str, dict] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422, 501)
}
HTML_TOO: dict[int | str, dict] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "The result (JSON), or the HTML report with format=html or "
                         "Accept: text/html."}}
PDF_TOO: dict[int | str, dict] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}},
                      "application/pdf": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The result (JSON); the HTML report with format=html or "
                         "Accept: text/html; a printable PDF with format=pdf."}}
BATCH_FORMATS: dict[int | str, dict] = {
    200: {"content": {
        "text/html": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}},
        "application/x-ndjson": {"schema": {"type": "string"}}},
        "description": "The cross-check (JSON), or with format= an html or pdf report, the "
                       "table as csv or xlsx, or ndjson: one line per event, {\"event\": "
                       "\"start\"|\"report\"|\"done\"|\"error\", ...}, as the reports "
                       "are checked."}}
