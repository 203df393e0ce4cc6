"""Errors as JSON with a stable code: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from app.core.errors import (
    ChachongError,
    CorpusError,
    DecodeError,
    DuplicateReferenceError,
    EmptyTextError,
    InputError,
    ReaderUnavailableError,
    ReferenceNotFoundError,
    StoreUnavailableError,
    UnsupportedFormatError,
)
from app.reports.pdf import PdfUnavailableError

_STATUS: list[tuple[type[ChachongError], int]] = [
    (StoreUnavailableError, 503),
    (PdfUnavailableError, 503),
    (ReaderUnavailableError, 501),
    (UnsupportedFormatError, 415),
    (EmptyTextError, 422),
    (DecodeError, 422),
    (InputError, 422),
    (ReferenceNotFoundError, 404),
    (DuplicateReferenceError, 409),
    (CorpusError, 409),
]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def status_of(exc: ChachongError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)
