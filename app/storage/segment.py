"""A segment: an immutable folder holding some references and their tables.

Files (every one recorded with its size and SHA-256 in ``header.json``):

- ``band.*`` and ``seed.*``: the LSH band table (a band key with the unit number below it) and
  the sampled-window table (a window key with the document number below it, and the window's
  position as a column), as block-encoded runs (``runs``);
- ``unit_start.npy``, ``unit_end.npy``: every unit's normalised offsets, documents' units in
  turn; ``first_unit.npy``: where each document's units begin;
- ``seq.npy``: each document's sequence number, the order references were added in; a
  reference's slot is the index's slot base plus its sequence number;
- ``texts.bin``, ``chars.bin`` with ``texts.npy``, ``chars.npy`` (offsets): each document's text,
  zstandard-compressed one by one, and its normalised text as plain UTF-16-LE (a check reads
  hundreds of normalised texts, and decompressing them cost more than the rest of a check's
  reading; a report's text is read only to show a source);
- ``docs.sqlite3``: each document's id, title, source and tags.

A segment never changes once written; removed references are marks kept beside it (the
manifest names them) until a merge leaves them out.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.corpus import Reference
from app.core.document import Document, source_document
from app.core.errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError
from app.core.index import FINGERPRINT, BandPostings, Limit, SeedPostings, UnitColumns
from app.core.lsh import MAX_BAND_POSTINGS
from app.core.seeds import MAX_POSTINGS, STRIDE
from app.core.table import POSTING_BITS

from .npyfile import NpyWriter
from .records import Record, chars_from_bytes, decode_text
from .runs import DELTA, FILTER_BITS_PER_KEY, POSTING_MASK, Run, RunInfo, RunWriter

FORMAT = "chachong-segment"
VERSION = 9  # what this version writes: tables of offsets (``runs``)
READABLE = (8, VERSION)  # 8: tables of differences, read as they are until a merge rewrites them
READ_LIST = " and ".join(map(str, READABLE))
HEADER = "header.json"
MAX_DOCS = MAX_UNITS = (1 << POSTING_BITS) - 1  # a posting holds a unit or document number
# a filter's bits a key: the seed table is a seventh of the band table's size, and a report's
# windows passing its filter by chance cost a block read in every segment
FILTER_BITS = {"band": FILTER_BITS_PER_KEY, "seed": 2 * FILTER_BITS_PER_KEY}
_SCHEMA = """
CREATE TABLE docs (
    number INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    source TEXT,
    tags TEXT NOT NULL
);
"""
_TABLES = {"band": 0, "seed": 1}  # name -> columns beside the words
_COARSE = 6  # log2 of the units between two entries of a segment's coarse unit-to-document map
_COARSE_STEPS = 4  # steps from there before a binary search (a report has ~90 units)
_DOC_ARRAYS = {"seq": np.int64, "first_unit": np.uint32, "texts": np.uint64,
               "chars": np.uint64}
_UNIT_ARRAYS = ("unit_start", "unit_end")


def rebuild_hint(path: Path) -> str:
    return f"{path}: rebuild the index with 'chachong index build DIR --out PATH'"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- writing ---------------------------------------------------------------------------------

class SegmentWriter:
    """Writes one segment into an empty folder: documents in sequence order, then the tables,
    either collected here (``add`` records, tables sorted at ``finish``) or given already sorted
    (``stream`` after the documents, as a merge does)."""

    def __init__(self, folder: Path, bands: int) -> None:
        self.folder = folder
        self.bands = bands
        self._db = sqlite3.connect(folder / "docs.sqlite3")
        self._db.execute("PRAGMA journal_mode=OFF")  # a fresh file: durability comes from fsync
        self._db.executescript(_SCHEMA)
        self._texts = (folder / "texts.bin").open("wb")
        self._chars = (folder / "chars.bin").open("wb")
        self._seq: list[int] = []
        self._first_unit = [0]
        self._text_offsets = [0]
        self._chars_offsets = [0]
        # a column a unit, written as documents come (a merged segment has millions of units)
        self._unit_columns = [NpyWriter(folder / f"{name}.npy", np.uint32) for name in _UNIT_ARRAYS]
        self._rows: list[tuple] = []
        self._band_words: list[np.ndarray] = []
        self._seed_words: list[np.ndarray] = []
        self._seed_pos: list[np.ndarray] = []
        self._runs: dict[str, RunWriter] = {}

    @property
    def docs(self) -> int:
        return len(self._seq)

    @property
    def units(self) -> int:
        return self._first_unit[-1]

    def add_doc(self, seq: int, ref: Reference, text_z: bytes, chars: bytes,
                unit_start: np.ndarray, unit_end: np.ndarray) -> None:
        """One document (sequence numbers ascending)."""
        if self._seq and seq <= self._seq[-1]:
            raise ValueError("segment documents must come in ascending sequence order")
        if self.docs >= MAX_DOCS or self.units + len(unit_start) > MAX_UNITS:
            raise ValueError("a segment holds at most 2**24 - 1 documents and units")
        self._rows.append((self.docs, ref.id, ref.title, ref.source,
                           json.dumps(ref.tags, ensure_ascii=False)))
        if len(self._rows) >= 1024:
            self._flush_rows()
        self._seq.append(seq)
        self._texts.write(text_z)
        self._chars.write(chars)
        self._text_offsets.append(self._text_offsets[-1] + len(text_z))
        self._chars_offsets.append(self._chars_offsets[-1] + len(chars))
        for column, values in zip(self._unit_columns, (unit_start, unit_end), strict=True):
            column.append(values)
        self._first_unit.append(self.units + len(unit_start))

    def add(self, seq: int, record: Record) -> None:
        """A document with its table entries (kept here until ``finish`` sorts them)."""
        number, first = self.docs, self.units
        self.add_doc(seq, record.ref, record.text_z, record.chars_bytes(), record.unit_start,
                     record.unit_end)
        units = np.arange(first, first + record.units, dtype=np.uint64)
        self._band_words.append((record.band_keys.astype(np.uint64)
                                 | units[:, None]).ravel())
        self._seed_words.append(record.seed_keys.astype(np.uint64) | np.uint64(number))
        self._seed_pos.append(np.arange(len(record.seed_keys), dtype=np.uint64)
                              * np.uint64(STRIDE))

    def _flush_rows(self) -> None:
        try:
            self._db.executemany("INSERT INTO docs VALUES (?,?,?,?,?)", self._rows)
        except sqlite3.IntegrityError:
            ids = [row[1] for row in self._rows]
            twice = sorted({i for i in ids if ids.count(i) > 1}) or ids
            raise DuplicateReferenceError(f"the id '{twice[0]}' occurs twice; rename one of "
                                          "them") from None
        self._rows = []

    def stream(self, name: str, capacity: int) -> RunWriter:
        """A table to be written in key order by the caller (after every document is added)."""
        self._runs[name] = RunWriter(self.folder / f"{name}.run", _TABLES[name], capacity,
                                     FILTER_BITS[name])
        return self._runs[name]

    def finish(self, extra: dict | None = None) -> dict:
        """Write what is left, sync every file, and write the header; returns it."""
        self._flush_rows()
        self._db.commit()
        self._db.close()
        for blobs in (self._texts, self._chars):
            blobs.flush()
            os.fsync(blobs.fileno())
            blobs.close()
        if self._band_words or "band" not in self._runs:
            self._write_collected()
        tables = {}
        for name, writer in self._runs.items():
            writer.close()
            tables[name] = {"words": writer.words, "columns": writer.columns,
                            "encoding": writer.encoding}
        arrays = {"seq": self._seq, "first_unit": self._first_unit,
                  "texts": self._text_offsets, "chars": self._chars_offsets}
        for name, values in arrays.items():
            np.save(self.folder / f"{name}.npy", np.asarray(values, _DOC_ARRAYS[name]))
        for column in self._unit_columns:
            column.close()
        files = {}
        for file in sorted(self.folder.iterdir()):
            if file.suffix == ".npy" or file.name == "docs.sqlite3":
                with file.open("rb+") as synced:
                    os.fsync(synced.fileno())
            files[file.name] = {"bytes": file.stat().st_size, "sha256": sha256(file)}
        header = {"format": FORMAT, "version": VERSION, **FINGERPRINT, "bands": self.bands,
                  "docs": self.docs, "units": self.units,
                  "first_seq": self._seq[0] if self._seq else 0,
                  "last_seq": self._seq[-1] if self._seq else -1,
                  "tables": tables, "files": files, **(extra or {})}
        with (self.folder / HEADER).open("w", encoding="utf-8") as out:
            json.dump(header, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        fsync_folder(self.folder)
        return header

    def _write_collected(self) -> None:
        # sorted in place, gathered from pieces let go as they are copied: a segment's band
        # table is the largest thing a build holds, and a second copy beside it would double it
        band = _gathered(self._band_words)
        band.sort()
        writer = RunWriter(self.folder / "band.run", 0, len(band), FILTER_BITS["band"])
        writer.add(band)
        self._runs["band"] = writer
        del band
        words, pos = _gathered(self._seed_words), _gathered(self._seed_pos)
        order = np.argsort(words, kind="stable")  # a window repeated in a doc: by position
        words = words[order]
        pos = pos[order]
        del order
        writer = RunWriter(self.folder / "seed.run", 1, len(words), FILTER_BITS["seed"])
        writer.add(words, [pos])
        self._runs["seed"] = writer

    def abort(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        for fh in (self._texts, self._chars):
            fh.close()
        for writer in self._runs.values():
            writer.abort()
        for column in self._unit_columns:
            column.abort()


def _gathered(pieces: list[np.ndarray]) -> np.ndarray:
    """The pieces as one array; the list is emptied, each piece let go once copied."""
    out = np.empty(sum(len(p) for p in pieces), np.uint64)
    pieces.reverse()  # popped from the end: each pop is O(1)
    at = 0
    while pieces:
        piece = pieces.pop()
        out[at : at + len(piece)] = piece
        at += len(piece)
    return out


# --- reading ---------------------------------------------------------------------------------

class _Cache:
    """An LRU map shared by every segment of a process (keys carry the open segment's own
    number: two copies of one segment never share entries)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[int, int], object] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> object | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def get_many(self, keys: list[tuple[int, int]]) -> list[object | None]:
        with self.lock:
            found = [self.items.get(key) for key in keys]
            for key, value in zip(keys, found, strict=True):
                if value is not None:
                    self.items.move_to_end(key)
            return found

    def drop(self, key: tuple[int, int]) -> None:
        with self.lock:
            self.items.pop(key, None)

    def put(self, key: tuple[int, int], value: object) -> None:
        self.put_many({key: value})

    def put_many(self, items: dict[tuple[int, int], object]) -> None:
        with self.lock:
            for key, value in items.items():
                self.items[key] = value
                self.items.move_to_end(key)
            self._trim()

    def _trim(self) -> None:
        while len(self.items) > self.size:
            self.items.popitem(last=False)


# Normalised texts for the hundreds of references a check aligns with (~6 KB each), references
# and analyses for the few it reports. The texts of a large corpus do not fit anyway; the
# kernel's page cache keeps the files' hot pages for every worker.
_CHARS = _Cache(20_000)
_REFS = _Cache(2048)
_DOCS = _Cache(512)
_OPENED = itertools.count()


class Segment:
    """An open segment: its small arrays in memory, its files open (readable while open even
    after a merge removed them)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder.name
        self._key = next(_OPENED)
        try:
            header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
            if header.get("format") != FORMAT or header.get("version") not in READABLE:
                raise IndexFormatError(f"{folder}: segment format {header.get('format')} "
                                       f"version {header.get('version')} is not supported "
                                       f"(this version reads versions {READ_LIST}); "
                                       f"{rebuild_hint(folder)}")
            if any(header.get(k) != v for k, v in FINGERPRINT.items()):
                raise IndexFormatError(f"{folder}: built with other fingerprint parameters; "
                                       f"{rebuild_hint(folder)}")
            self.header = header
            self.docs = int(header["docs"])
            self.units = int(header["units"])
            arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False)
                      for name in _DOC_ARRAYS}
            self.seq = arrays["seq"].astype(np.int64)
            self.first_unit = arrays["first_unit"].astype(np.int64)
            self.text_offsets = arrays["texts"].astype(np.int64)
            self.chars_offsets = arrays["chars"].astype(np.int64)
            if len(self.seq) != self.docs or any(len(arrays[k]) != self.docs + 1 for k in
                                                 ("first_unit", "texts", "chars")):
                raise ValueError("the document arrays disagree in length")
            if self.first_unit[-1] != self.units:
                raise ValueError("the unit offsets disagree with the unit count")
            self._owners = UnitOwners(self.first_unit)
            self.unit_start, self.unit_end = (
                np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                for name in _UNIT_ARRAYS)
            if len(self.unit_start) != self.units or len(self.unit_end) != self.units:
                raise ValueError("the unit columns disagree in length")
            self.runs = {
                # a version 8 header names no encoding: its tables hold differences
                name: Run.load(folder / f"{name}.run", RunInfo(**{
                    "encoding": DELTA if header["version"] == 8 else None,
                    **header["tables"][name]}))
                for name in _TABLES}
            self._fds = {name: os.open(folder / f"{name}.bin", os.O_RDONLY)
                         for name in ("texts", "chars")}
            for fd in self._fds.values():
                weakref.finalize(self, os.close, fd)
            for name in ("texts", "chars"):
                size = os.fstat(self._fds[name]).st_size
                offsets = self.text_offsets if name == "texts" else self.chars_offsets
                if offsets[-1] != size:
                    raise ValueError(f"{name}.bin is not as long as its offsets say")
            self._db = sqlite3.connect(f"{(folder / 'docs.sqlite3').resolve().as_uri()}"
                                       "?mode=ro&immutable=1", uri=True, check_same_thread=False)
            weakref.finalize(self, self._db.close)
            self._db_lock = threading.Lock()
            (rows,) = self._db.execute("SELECT count(*) FROM docs").fetchone()
            if rows != self.docs:
                raise ValueError("docs.sqlite3 does not hold the segment's documents")
        except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            raise IndexFormatError(f"{folder}: the segment is damaged or inconsistent ({exc}); "
                                   f"{rebuild_hint(folder)}") from None

    @property
    def first_seq(self) -> int:
        return int(self.header["first_seq"])

    @property
    def last_seq(self) -> int:
        return int(self.header["last_seq"])

    def verify(self) -> None:
        """Every file against the SHA-256 its header records; raises IndexFormatError."""
        for name, expected in self.header["files"].items():
            try:
                digest = sha256(self.folder / name)
            except OSError as exc:
                raise IndexFormatError(f"{self.folder}: {name} cannot be read ({exc}); "
                                       f"{rebuild_hint(self.folder)}") from None
            if digest != expected["sha256"]:
                raise IndexFormatError(f"{self.folder}: {name} is damaged (checksum differs); "
                                       f"{rebuild_hint(self.folder)}")

    # -- documents -----------------------------------------------------------------------------

    def _blob(self, name: str, number: int) -> bytes:
        offsets = self.text_offsets if name == "texts" else self.chars_offsets
        first, last = int(offsets[number]), int(offsets[number + 1])
        data = os.pread(self._fds[name], last - first, first)
        if len(data) != last - first:
            raise OSError(f"{name}.bin ended early: the index changed under us")
        return data

    def text_z(self, number: int) -> bytes:
        return self._blob("texts", number)

    def chars_bytes(self, number: int) -> bytes:
        return self._blob("chars", number)

    def chars(self, number: int) -> str:
        return self.chars_many([number])[0]

    def chars_many(self, numbers: list[int]) -> list[str]:
        """``chars`` of many documents, with one pass over the cache each way (a check asks for
        hundreds at once)."""
        keys = [(self._key, n) for n in numbers]
        found = _CHARS.get_many(keys)
        read = {key: chars_from_bytes(self.chars_bytes(key[1]))
                for key, value in zip(keys, found, strict=True) if value is None}
        _CHARS.put_many(read)  # type: ignore[arg-type]
        return [read[key] if value is None else value  # type: ignore[misc]
                for key, value in zip(keys, found, strict=True)]

    def ref(self, number: int) -> Reference:
        key = (self._key, number)
        found = _REFS.get(key)
        if found is None:
            with self._db_lock:
                row = self._db.execute("SELECT id, title, source, tags FROM docs "
                                       "WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise ReferenceNotFoundError(f"no document {number} in segment {self.name}")
            found = Reference(id=row[0], text=decode_text(self.text_z(number)), title=row[1],
                              source=row[2], tags=json.loads(row[3]))
            _REFS.put(key, found)
        return found  # type: ignore[return-value]

    def doc(self, number: int) -> Document:
        key = (self._key, number)
        found = _DOCS.get(key)
        if found is None:
            found = source_document(self.ref(number).text)
            _DOCS.put(key, found)
        return found  # type: ignore[return-value]

    def forget(self, numbers: np.ndarray) -> None:
        """Drop removed documents from this process's caches: a deleted text stays only in
        the segment's files, until a merge leaves it out."""
        for number in numbers.tolist():
            for cache in (_CHARS, _REFS, _DOCS):
                cache.drop((self._key, number))

    def number_of(self, doc_id: str) -> int | None:
        with self._db_lock:
            row = self._db.execute("SELECT number FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else int(row[0])

    def rows(self, numbers: Iterable[int]) -> Iterator[tuple[int, str, str, str | None, str]]:
        """(number, id, title, source, tags as JSON) of ``numbers``, in number order."""
        wanted = sorted(numbers)
        with self._db_lock:
            for a in range(0, len(wanted), 500):
                chunk = wanted[a : a + 500]
                yield from self._db.execute(
                    "SELECT number, id, title, source, tags FROM docs WHERE number IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY number", chunk)

    def doc_of_units(self, units: np.ndarray) -> np.ndarray:
        return self._owners(units)


class UnitOwners:
    """The document of each unit, given where each document's units begin (``first_unit``,
    documents + 1 entries): the last document whose units begin at or before it. A check asks
    for tens of thousands at once, in no order; stepping on from a coarse map (the document of
    every 2**_COARSE-th unit) beats a binary search over every document eightfold."""

    def __init__(self, first_unit: np.ndarray) -> None:
        self.first_unit = first_unit
        self.coarse = self.searched(np.arange(0, int(first_unit[-1]) + 1, 1 << _COARSE))

    def searched(self, units: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.first_unit, units, side="right") - 1

    def __call__(self, units: np.ndarray) -> np.ndarray:
        units = np.asarray(units, np.int64)
        docs = self.coarse[units >> _COARSE]
        todo = np.arange(len(units))
        for _ in range(_COARSE_STEPS):
            ahead = self.first_unit[docs[todo] + 1] <= units[todo]
            todo = todo[ahead]
            if not len(todo):
                return docs
            docs[todo] += 1
        docs[todo] = self.searched(units[todo])  # many tiny documents in one stretch
        return docs


@dataclass(frozen=True)
class Deletions:
    """Which of a segment's documents are removed: as a manifest names them, plus removals the
    write-ahead log holds that no manifest has yet."""

    dead: np.ndarray  # bool per document

    @property
    def count(self) -> int:
        return int(self.dead.sum())


class SegmentPart:
    """A segment as a part of an index: its slots are ``slot_base`` plus its sequence numbers;
    removed documents answer nothing."""

    def __init__(self, segment: Segment, slot_base: int, dead: np.ndarray | None = None) -> None:
        self.segment = segment
        self.slot_base = slot_base
        self.alive_mask = np.ones(segment.docs, bool) if dead is None else ~dead
        self.live = int(self.alive_mask.sum())
        self.first_slot = slot_base + (int(segment.seq[0]) if segment.docs else 0)
        self.end_slot = slot_base + (int(segment.seq[-1]) + 1 if segment.docs else 0)
        # a segment no merge has dropped removed documents from numbers them without gaps: a
        # slot's number is a subtraction (a check asks thousands of times)
        self._dense = self.end_slot - self.first_slot == segment.docs

    def __len__(self) -> int:
        return self.live

    def _number(self, slot: int) -> int:
        if self._dense:
            if not self.first_slot <= slot < self.end_slot:
                raise ReferenceNotFoundError(f"no reference number {slot}")
            return slot - self.first_slot
        seq = slot - self.slot_base
        i = int(self.segment.seq.searchsorted(seq))
        if i == self.segment.docs or int(self.segment.seq[i]) != seq:
            raise ReferenceNotFoundError(f"no reference number {slot}")
        return i

    def _live_number(self, slot: int) -> int:
        number = self._number(slot)
        if not self.alive_mask[number]:
            raise ReferenceNotFoundError(f"reference number {slot} was removed")
        return number

    def alive(self, slot: int) -> bool:
        try:
            return bool(self.alive_mask[self._number(slot)])
        except ReferenceNotFoundError:
            return False

    def alive_many(self, slots: np.ndarray) -> np.ndarray:
        return self._live_numbers(slots)[1]

    def _live_numbers(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each slot's document number here, and whether it is a live document of this part."""
        if self._dense:
            number = np.asarray(slots, np.int64) - self.first_slot
            found = (number >= 0) & (number < self.segment.docs)
            found[found] = self.alive_mask[number[found]]
            return number, found
        seq = np.asarray(slots, np.int64) - self.slot_base
        number = np.searchsorted(self.segment.seq, seq)
        found = number < self.segment.docs
        found[found] = self.segment.seq[number[found]] == seq[found]
        found[found] = self.alive_mask[number[found]]
        return number, found

    def ref(self, slot: int) -> Reference:
        return self.segment.ref(self._live_number(slot))

    def doc(self, slot: int) -> Document:
        return self.segment.doc(self._live_number(slot))

    def chars(self, slot: int) -> str:
        return self.segment.chars(self._live_number(slot))

    def prefetch(self, slots: set[int]) -> dict[int, str]:
        wanted = np.array(sorted(slots), np.int64)
        numbers, held = self._live_numbers(wanted)
        # in file order
        return dict(zip(wanted[held].tolist(), self.segment.chars_many(numbers[held].tolist()),
                        strict=True))

    def slot_of(self, doc_id: str) -> int | None:
        number = self.segment.number_of(doc_id)
        if number is None or not self.alive_mask[number]:
            return None
        return self.slot_base + int(self.segment.seq[number])

    def live_numbers(self) -> np.ndarray:
        return np.flatnonzero(self.alive_mask)

    def band_postings(self, keys: np.ndarray, limit: Limit = MAX_BAND_POSTINGS) -> BandPostings:
        at, words, _, counts = self.segment.runs["band"].lookup(keys, limit)
        units = (words & POSTING_MASK).astype(np.int64)
        if self.live < self.segment.docs:  # a removed document's units answer nothing
            live = self.alive_mask[self.segment.doc_of_units(units)]
            at, units = at[live], units[live]
        return at, units, counts

    def unit_places(self, units: np.ndarray) -> UnitColumns:
        return (self.slot_base + self.segment.seq[self.segment.doc_of_units(units)],
                np.asarray(self.segment.unit_start[units], np.int64),
                np.asarray(self.segment.unit_end[units], np.int64))

    def seed_postings(self, keys: np.ndarray, limit: Limit = MAX_POSTINGS) -> SeedPostings:
        at, words, (pos,), counts = self.segment.runs["seed"].lookup(keys, limit)
        docs = (words & POSTING_MASK).astype(np.int64)
        live = self.alive_mask[docs]
        return at[live], self.slot_base + self.segment.seq[docs[live]], pos[live], counts
