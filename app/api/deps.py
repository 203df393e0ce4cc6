"""What the routes share: the app's service and settings, and reading a body that may be JSON or
a multipart form. Access decisions are in ``app.api.access``."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from app.api.errors import ApiError
from app.api.models import ReferenceSummary
from app.api.uploads import Uploaded, documents_of
from app.core import CheckOptions, Reference
from app.history import CheckHistory
from app.options import CheckOverrides, check_options
from app.service import CorpusService
from app.settings import Settings

M = TypeVar("M", bound=BaseModel)
LIST_FIELDS = ("exclude_sources", "stock_phrases")
TITLE_MAX = 200

Service = CorpusService


def service_of(request: Request) -> Service:
    return request.app.state.service


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def history_of(request: Request) -> CheckHistory:
    return request.app.state.history


# --- bodies -----------------------------------------------------------------------------------

def options_of(request: Request, overrides: CheckOverrides) -> CheckOptions:
    try:
        return check_options(settings_of(request), overrides)
    except ValueError as exc:
        raise ApiError(422, "invalid_option", str(exc)) from None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def wants_html(request: Request, fmt: str | None) -> bool:
    return fmt == "html" or (fmt is None and "text/html" in request.headers.get("accept", ""))


def validated(model: type[M], raw: object) -> M:
    """The request model, or the framework's own 422 for what does not fit it."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def read_json(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
        raise ApiError(400, "invalid_json", "the body is not valid JSON (or is nested too "
                       "deeply)") from None


OCR_QUERY = Query(description="Recognise scanned PDFs and images with OCR (slow; the server "
                  "must allow it with CHACHONG_OCR=true). A form field 'ocr' does the same.")
OcrParam = Annotated[bool, OCR_QUERY]


def wants_ocr(request: Request, asked: bool, fields: dict[str, object]) -> bool:
    """OCR asked for by the query or by a form field 'ocr' (taken out of ``fields``: it is
    about reading the file, not an option of the check); refused when the server does not
    allow it."""
    field = fields.pop("ocr", None)
    asked = asked or (isinstance(field, str) and field.strip().lower() in
                      ("1", "true", "yes", "on"))
    if asked and not settings_of(request).ocr:
        raise ApiError(422, "ocr_disabled", "OCR is turned off on this server; its operator "
                       "can allow it with CHACHONG_OCR=true")
    return asked


async def read_form(request: Request, file_field: str, archives: bool = False,
                    ocr: bool = False) -> tuple[Uploaded, dict[str, object]]:
    """The documents of every upload in ``file_field`` and the form's other fields (repeatable
    ones as lists); with ``archives``, each report inside an uploaded .zip; with ``ocr`` (or a
    form field asking for it), scans and images are recognised. A file input left empty (no
    name, no bytes) is no upload. The form, and its temporary files, are closed after."""
    async with request.form() as form:
        uploads = []
        for upload in form.getlist(file_field):
            if isinstance(upload, UploadFile):
                data = await upload.read()
                if upload.filename or data:
                    uploads.append((upload.filename or "upload.txt", data))
        fields: dict[str, object] = {
            k: v for k, v in form.items() if k != file_field and isinstance(v, str)}
        for key in LIST_FIELDS:
            if key in form:
                fields[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    options = settings_of(request).read_options(wants_ocr(request, ocr, fields))
    uploaded = Uploaded()
    for name, data in uploads:
        # conversions and OCR take a while: off the event loop
        one = await run_in_threadpool(documents_of, name, data, options, archives)
        uploaded.documents += one.documents
        uploaded.warnings += one.warnings
    return uploaded, fields


def summary(ref: Reference) -> ReferenceSummary:
    return ReferenceSummary(id=ref.id, title=ref.display_title, source=ref.source,
                            tags=ref.tags, chars=len(ref.text))


def parse_tags(raw: str | None) -> dict[str, str]:
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
