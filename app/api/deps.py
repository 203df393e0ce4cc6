"""What the routes share: the app's service and settings, and reading a body that may be JSON or
a multipart form. Access decisions are in ``app.api.access``."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from app.api.errors import ApiError
from app.api.models import ReferenceSummary
from app.api.uploads import texts_of
from app.core import CheckOptions, Reference
from app.history import CheckHistory
from app.options import CheckOverrides, check_options
from app.service import CorpusService, SharedCorpusService
from app.settings import Settings

M = TypeVar("M", bound=BaseModel)
LIST_FIELDS = ("exclude_sources", "stock_phrases")
TITLE_MAX = 200

Service = CorpusService | SharedCorpusService


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


async def read_form(request: Request, file_field: str, archives: bool = False
                    ) -> tuple[list[tuple[str, str]], dict[str, object]]:
    """(file name, text) of every upload in ``file_field`` and the form's other fields
    (repeatable ones as lists); with ``archives``, each report inside an uploaded .zip. A file
    input left empty (no name, no bytes) is no upload. The form, and its temporary files, are
    closed after."""
    async with request.form() as form:
        uploads = []
        for upload in form.getlist(file_field):
            if isinstance(upload, UploadFile):
                data = await upload.read()
                if upload.filename or data:
                    uploads.append((upload.filename or "upload.txt", data))
        # reading Word files and archives takes a while: off the event loop
        files = [text for name, data in uploads
                 for text in await run_in_threadpool(texts_of, name, data, archives)]
        fields: dict[str, object] = {
            k: v for k, v in form.items() if k != file_field and isinstance(v, str)}
        for key in LIST_FIELDS:
            if key in form:
                fields[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    return files, fields


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
