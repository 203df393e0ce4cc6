"""How the routes document their answers in the OpenAPI schema."""

from __future__ import annotations

from app.api.models import ErrorResponse

ERRORS: dict[int | str, dict] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422)
}
HTML_TOO: dict[int | str, dict] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "The result (JSON), or the HTML report with format=html or "
                         "Accept: text/html."}}
