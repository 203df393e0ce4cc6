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
