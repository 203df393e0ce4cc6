"""The detection core: normalise -> segment -> fingerprint -> candidates -> align -> score.

It imports no web or command-line framework; the CLI and the API are thin adapters over it.
"""

from .check import CheckOptions, check_text
from .corpus import Reference, bundled_corpus_dir, load_corpus
from .cross import cross_check
from .errors import ChachongError, CorpusError, InputError
from .index import ReferenceIndex, build_index
from .readers import read_document, require_text
from .schema import CheckResult, CrossResult

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
