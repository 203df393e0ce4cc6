"""Reference documents of a saved index: one SQLite file, read on demand.

Each row keeps the reference (id, title, source, tags, text) and its analysis (normalised
characters, their offsets, paragraph spans) as plain text and little-endian int32 blobs, so a
document needed by a check is one indexed read and no re-analysis. Recently used documents stay
in a small LRU cache; the rest stay on disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .corpus import Reference
from .document import Document
from .normalize import NormalizedText
from .segment import Span

DOCS_FILE = "docs.sqlite3"
# Caches per process (each server worker has its own): whole documents for the few sources a
# check reports (~60 KB each with offsets), normalised texts for the hundreds it aligns with
# (~6 KB each). The texts of a large corpus do not fit anyway; the kernel's page cache keeps
# the database's hot pages for every worker.
_CACHE_SIZE = 512
_CHARS_CACHE_SIZE = 20_000

# ``norm`` comes first: a check reads it for hundreds of documents, and SQLite reads a long row's
# overflow pages up to the column it wants
SCHEMA = """
CREATE TABLE docs (
    slot INTEGER PRIMARY KEY,
    norm TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    source TEXT,
    tags TEXT NOT NULL,
    text TEXT NOT NULL,
    starts BLOB NOT NULL,
    ends BLOB NOT NULL,
    paragraphs BLOB NOT NULL
);
"""
DOC_COLUMNS = "slot, id, title, source, tags, text, norm, starts, ends, paragraphs"  # doc_row order


def _blob(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def _array(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<i4").astype(np.int64)


def doc_row(slot: int, ref: Reference, doc: Document) -> tuple:
    paras = np.array([(p.start, p.end) for p in doc.paragraphs], dtype=np.int64).reshape(-1, 2)
    return (slot, ref.id, ref.title, ref.source, json.dumps(ref.tags, ensure_ascii=False),
            ref.text, doc.norm.chars, _blob(doc.norm.starts), _blob(doc.norm.ends),
            _blob(paras.ravel()))


def insert_rows(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    conn.executemany(f"INSERT INTO docs ({DOC_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)


class DocFile:
    """Read-only access to a saved index's documents."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._cache: OrderedDict[int, tuple[Reference, Document]] = OrderedDict()
        self._chars: OrderedDict[int, str] = OrderedDict()  # what aligning needs, cached longer
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False)
            self._local.conn = conn
        return conn

    def slots(self) -> Iterator[tuple[int, str]]:
        yield from self._conn().execute("SELECT slot, id FROM docs ORDER BY slot")

    def get(self, slot: int) -> tuple[Reference, Document]:
        with self._lock:
            if slot in self._cache:
                self._cache.move_to_end(slot)
                return self._cache[slot]
        row = self._conn().execute(
            "SELECT id, title, source, tags, text, norm, starts, ends, paragraphs FROM docs "
            "WHERE slot = ?", (slot,)).fetchone()
        if row is None:
            raise KeyError(slot)
        ref_id, title, source, tags, text, norm, starts, ends, paras = row
        ref = Reference(id=ref_id, text=text, title=title, source=source, tags=json.loads(tags))
        bounds = _array(paras).reshape(-1, 2)
        doc = Document(text, NormalizedText(norm, _array(starts), _array(ends)),
                       [Span(int(a), int(b)) for a, b in bounds], [])
        with self._lock:
            self._cache[slot] = (ref, doc)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return ref, doc

    def chars(self, slot: int) -> str:
        """The normalised text alone (what alignment reads), cached."""
        with self._lock:
            if slot in self._chars:
                self._chars.move_to_end(slot)
                return self._chars[slot]
        self.prefetch_chars({slot})
        return self._chars[slot]

    def prefetch_chars(self, slots: set[int]) -> None:
        """Read the normalised texts of ``slots`` not cached yet, a few hundred per query."""
        with self._lock:
            missing = sorted(s for s in slots if s not in self._chars)
        for i in range(0, len(missing), 500):
            part = missing[i : i + 500]
            rows = self._conn().execute(
                f"SELECT slot, norm FROM docs WHERE slot IN ({','.join('?' * len(part))})",
                part).fetchall()
            if len(rows) != len(part):
                raise KeyError(sorted(set(part) - {r[0] for r in rows}))
            with self._lock:
                for slot, norm in rows:
                    self._chars[slot] = norm
                while len(self._chars) > _CHARS_CACHE_SIZE:
                    self._chars.popitem(last=False)
