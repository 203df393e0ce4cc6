"""The detection core: normalise -> segment -> fingerprint -> candidates -> align -> score.

It imports no web or command-line framework; the CLI and the API are thin adapters over it.
Its names are imported on first use (PEP 562), so that a process which needs only the errors
(the command line printing its help) does not load NumPy, OpenCC and the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "CheckOptions": "check", "check_text": "check",
    "Reference": "corpus", "bundled_corpus_dir": "corpus", "load_corpus": "corpus",
    "cross_check": "cross",
    "ChachongError": "errors", "CorpusError": "errors", "InputError": "errors",
    "ReferenceIndex": "index", "build_index": "index",
    "read_document": "readers", "require_text": "readers",
    "CheckResult": "schema", "CrossResult": "schema",
}

if TYPE_CHECKING:
    from .check import CheckOptions, check_text
    from .corpus import Reference, bundled_corpus_dir, load_corpus
    from .cross import cross_check
    from .errors import ChachongError, CorpusError, InputError
    from .index import ReferenceIndex, build_index
    from .readers import read_document, require_text
    from .schema import CheckResult, CrossResult


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ChachongError",
    "CheckOptions",
    "CheckResult",
    "CorpusError",
    "CrossResult",
    "InputError",
    "Reference",
    "ReferenceIndex",
    "build_index",
    "bundled_corpus_dir",
    "check_text",
    "cross_check",
    "load_corpus",
    "read_document",
    "require_text",
]
