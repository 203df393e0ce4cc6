"""The bundled template corpus as a saved index, built once and kept in the user's cache folder.

A check without ``--corpus`` or ``--index`` (the CLI's default, and a server's base corpus)
opens this index instead of indexing the templates at every start. Its folder's name holds the
package version, the index format and a digest of the corpus files, so an upgrade or a changed
corpus builds a new one; a process that finds none builds it under a lock (one builder at a
time), and without a usable cache folder the corpus is indexed in memory as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from app import __version__
from app.core import ReferenceIndex, build_index, bundled_corpus_dir, load_corpus
from app.core.cache import cache_dir
from app.core.corpus import corpus_files

from .build import build_index_folder
from .live import LiveIndex
from .locks import FileLock
from .manifest import CURRENT
from .segment import VERSION


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in [*corpus_files(folder), folder / "corpus.json"]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def bundled_index() -> ReferenceIndex | LiveIndex:
    """The bundled corpus: its saved index from the cache folder (built there if missing), or
    indexed in memory when there is no cache folder to keep it in."""
    corpus = bundled_corpus_dir()
    folder = cache_dir()
    if folder is None:
        return build_index(load_corpus(corpus))
    path = folder / f"bundled-{__version__}-v{VERSION}-{_digest(corpus)}"
    if not (path / CURRENT).exists():
        lock = FileLock(folder / "bundled.lock")
        lock.acquire(blocking=True)
        try:
            if not (path / CURRENT).exists():  # another process may have built it meanwhile
                build_index_folder(load_corpus(corpus), path)
        finally:
            lock.release()
    return LiveIndex(path, slot_base=0, readonly=True)
