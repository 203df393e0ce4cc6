"""The storage engine: indexes on disk as immutable segments named by a manifest, a write-ahead
log for what was added since, and the flushes and merges that fold the log into segments.

The detection core knows none of this: it checks against *parts* (``app.core.index.Part``),
which segments and the log's in-memory tail are. The service and the CLI open folders through
``LiveIndex`` and run a ``Maintainer``; ``build_index_folder`` and ``add_to_folder`` index
many references at once.
"""

from .build import add_to_folder, build_index_folder
from .folder import IndexFolder
from .live import DATA_SLOTS, LiveIndex
from .maintain import FlushPolicy, Maintainer
from .merge import MergePolicy
from .verify import verify_folder

__all__ = [
    "DATA_SLOTS",
    "FlushPolicy",
    "IndexFolder",
    "LiveIndex",
    "Maintainer",
    "MergePolicy",
    "add_to_folder",
    "build_index_folder",
    "verify_folder",
]
