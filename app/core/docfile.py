"""Reference documents of a saved index, read on demand: an SQLite file and a flat file.

Each SQLite row keeps the reference (id, title, source, tags, text) and the rest of its analysis
(offsets of the normalised characters, paragraph spans) as plain text and little-endian int32
blobs. The normalised texts, which a check reads for hundreds of documents, sit in a flat file
of UTF-16-LE, slot after slot, with an array of where each slot starts: one ``pread`` and a fast
decode each, where an SQLite row took a B-tree walk, its overflow pages and a UTF-8 decode.
Recently used documents and texts stay in small LRU caches; the rest stay on disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .corpus import Reference
from .document import Document
from .normalize import NormalizedText
from .segment import Span

DOCS_FILE = "docs.sqlite3"
NORMS_FILE = "norms.bin"
NORM_STARTS_FILE = "norm_starts.npy"  # slots + 1 byte offsets into NORMS_FILE
_NORM_ENCODING = "utf-16-le"  # what a str of Chinese text holds already: the fastest decode
# Caches per process (each server worker has its own): whole documents for the few sources a
# check reports (~60 KB each with offsets), normalised texts for the hundreds it aligns with
# (~6 KB each). The texts of a large corpus do not fit anyway; the kernel's page cache keeps
# the files' hot pages for every worker.
_CACHE_SIZE = 512
_CHARS_CACHE_SIZE = 20_000

SCHEMA = """
CREATE TABLE docs (
    slot INTEGER PRIMARY KEY,
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
# doc_row's fields, in order; the database keeps all but norm (NORM_FIELD), kept in NORMS_FILE
DOC_FIELDS = ("slot", "id", "title", "source", "tags", "text", "norm", "starts", "ends",
              "paragraphs")
NORM_FIELD = DOC_FIELDS.index("norm")
DOC_COLUMNS = ", ".join(f for f in DOC_FIELDS if f != "norm")


def _blob(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<i4").tobytes()


def _array(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<i4").astype(np.int64)


def doc_row(slot: int, ref: Reference, doc: Document) -> tuple:
    paras = np.array([(p.start, p.end) for p in doc.paragraphs], dtype=np.int64).reshape(-1, 2)
    return (slot, ref.id, ref.title, ref.source, json.dumps(ref.tags, ensure_ascii=False),
            ref.text, doc.norm.chars, _blob(doc.norm.starts), _blob(doc.norm.ends),
            _blob(paras.ravel()))


class DocWriter:
    """Writes the documents of a new index version: rows in slot order, each slot once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conn = sqlite3.connect(folder / DOCS_FILE)
        self.conn.execute("PRAGMA journal_mode=OFF")  # a fresh file: durability comes from fsync
        self.conn.executescript(SCHEMA)
        self._norms: BinaryIO = (folder / NORMS_FILE).open("wb")
        self._starts = [0]  # _starts[slot]: where the slot's text begins; one past the last

    def _norm(self, slot: int, data: bytes) -> None:
        if slot < len(self._starts) - 1:
            raise ValueError(f"document slots must be written in order ({slot} came late)")
        self._starts.extend([self._starts[-1]] * (slot - len(self._starts) + 1))  # gaps: empty
        self._norms.write(data)
        self._starts.append(self._starts[-1] + len(data))

    def add(self, rows: Iterable[tuple]) -> None:
        """Rows as ``doc_row`` makes them."""
        kept = []
        for row in rows:
            self._norm(row[0], row[NORM_FIELD].encode(_NORM_ENCODING))
            kept.append(row[:NORM_FIELD] + row[NORM_FIELD + 1 :])
        self.conn.executemany(f"INSERT INTO docs ({DOC_COLUMNS}) VALUES "
                              f"({','.join('?' * (len(DOC_FIELDS) - 1))})", kept)

    def copy(self, old: DocFile, slots: list[int]) -> None:
        """The documents of ``slots`` (ascending) from another index's file, as they are."""
        self.conn.execute("ATTACH DATABASE ? AS old", (f"{old.path.resolve().as_uri()}?mode=ro",))
        self.conn.execute("CREATE TEMP TABLE keep (slot INTEGER PRIMARY KEY)")
        self.conn.executemany("INSERT INTO keep VALUES (?)", [(s,) for s in slots])
        self.conn.execute(f"INSERT INTO docs ({DOC_COLUMNS}) SELECT {DOC_COLUMNS} FROM old.docs "
                          "WHERE slot IN (SELECT slot FROM keep)")
        self.conn.commit()
        self.conn.execute("DETACH DATABASE old")
        for slot in slots:
            self._norm(slot, old.norm_bytes(slot))

    def close(self, slots: int | None = None) -> None:
        """Finish the files (``slots``: how many the index has) or, without it, just close."""
        if self._norms.closed:
            return
        self.conn.commit()
        self.conn.close()
        self._norms.close()
        if slots is not None:
            if slots < len(self._starts) - 1:
                raise ValueError(f"{len(self._starts) - 1} document slots written, {slots} given")
            starts = self._starts + [self._starts[-1]] * (slots + 1 - len(self._starts))
            np.save(self.folder / NORM_STARTS_FILE, np.array(starts, dtype="<i8"))


class DocFile:
    """Read-only access to a saved index's documents (its folder) for ``slots`` slots."""

    def __init__(self, folder: Path, slots: int) -> None:
        self.path = folder / DOCS_FILE
        self._local = threading.local()
        self._cache: OrderedDict[int, tuple[Reference, Document]] = OrderedDict()
        self._chars: OrderedDict[int, str] = OrderedDict()  # what aligning needs, cached longer
        self._lock = threading.Lock()
        starts = np.load(folder / NORM_STARTS_FILE, allow_pickle=False)
        size = (folder / NORMS_FILE).stat().st_size
        if starts.dtype != np.dtype("<i8") or starts.shape != (slots + 1,) or starts[0] != 0 \
                or starts[-1] != size or (np.diff(starts) < 0).any():
            raise ValueError(f"{NORM_STARTS_FILE} does not match {NORMS_FILE}")
        self._starts = starts
        self._fd = os.open(folder / NORMS_FILE, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def norm_bytes(self, slot: int) -> bytes:
        """A slot's normalised text as stored (UTF-16-LE)."""
        first, last = int(self._starts[slot]), int(self._starts[slot + 1])
        data = os.pread(self._fd, last - first, first)
        if len(data) != last - first:
            raise OSError(f"{NORMS_FILE} ended early: the index changed under us")
        return data

    def _norm(self, slot: int) -> str:
        return self.norm_bytes(slot).decode(_NORM_ENCODING)

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
            "SELECT id, title, source, tags, text, starts, ends, paragraphs FROM docs "
            "WHERE slot = ?", (slot,)).fetchone()
        if row is None:
            raise KeyError(slot)
        ref_id, title, source, tags, text, starts, ends, paras = row
        norm = self._norm(slot)
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
        """Read the normalised texts of ``slots`` not cached yet (a few hundred per check)."""
        with self._lock:
            missing = sorted(s for s in slots if s not in self._chars)
        read = [(slot, self._norm(slot)) for slot in missing]  # in file order
        with self._lock:
            for slot, norm in read:
                self._chars[slot] = norm
            while len(self._chars) > _CHARS_CACHE_SIZE:
                self._chars.popitem(last=False)
