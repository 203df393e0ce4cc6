"""One exception hierarchy for the core; every message says what to do about the problem.

Adapters map these to their own channels: HTTP status codes in the API, exit code 2 in the CLI.
"""

from __future__ import annotations


class ChachongError(Exception):
    """Base class. ``code`` is a stable machine-readable name for the problem."""

    code = "error"


class InputError(ChachongError):
    """The submitted document cannot be checked as it is."""

    code = "bad_input"


class EmptyTextError(InputError):
    code = "empty_text"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"


class DecodeError(InputError):
    code = "undecodable"


class ConversionError(InputError):
    """A converter (LibreOffice, OCR) crashed or could not read the file."""

    code = "conversion_failed"


class ConversionTimeoutError(ConversionError):
    """A converter ran past its time limit on the file and was stopped."""

    code = "conversion_timeout"


class TooManyPagesError(InputError):
    code = "too_many_pages"


class NeedsOcrError(EmptyTextError):
    """The file holds images of text only; reading it needs OCR, which was not asked for."""

    code = "needs_ocr"


class ArchiveError(InputError):
    """A .zip of reports that is refused: a bomb, nested archives, unsafe member names."""

    code = "bad_archive"


class ReaderUnavailableError(ChachongError):
    """The reader a file needs is not installed on this machine (LibreOffice, OCR)."""

    code = "reader_unavailable"


class CorpusError(ChachongError):
    """The reference corpus or a saved index cannot be used."""

    code = "corpus_error"


class IndexFormatError(CorpusError):
    code = "index_format"


class ReferenceNotFoundError(CorpusError):
    code = "not_found"


class DuplicateReferenceError(CorpusError):
    code = "duplicate_reference"


class StoreUnavailableError(ChachongError):
    """The shared store (Redis) cannot be reached; retry later."""

    code = "store_unavailable"
