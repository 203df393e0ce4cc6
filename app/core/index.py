"""The reference index: documents, their sentence units, the LSH band table and the seed table.

Saved as a folder: ``CURRENT`` names the version folder in use, which holds plain ``.npy`` arrays
(never unpickled): the band and seed tables as sorted records, each with its fence and key
filter, read block by block (``table.FileRun``), and the unit columns, memory-mapped; the
documents in SQLite (``docfile``); and a JSON header with the format version and each file's size
and SHA-256. A save writes a new version folder and then replaces ``CURRENT`` atomically, so a
crash leaves the old index or the new one.

An index loaded from disk keeps its tables and texts on disk: resident memory holds the fences,
the unit columns checks touch and a bounded cache of documents. References added afterwards live
in memory beside it; removals are marks, so neither rewrites what is on disk until the next save.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import signal
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .corpus import Reference
from .docfile import DocFile, DocWriter, doc_row
from .document import Document, analyse
from .errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError
from .fingerprint import NUM_PERM, SCHEME, SEED, SHINGLES, signatures
from .lsh import BandTable, band_keys, lsh_params
from .seeds import STRIDE, Hits, K, SeedTable, pack, sampled_windows
from .table import FileRun, SortedTable, sort_keys, write_run

FORMAT = "chachong-index"
VERSION = 5
LSH_THRESHOLD = 0.3  # units this similar (Jaccard of shingles) are candidates; all are verified
HEADER_FILE = "header.json"
CURRENT_FILE = "CURRENT"
_COLUMNS = {"unit_doc": np.uint32, "unit_start": np.uint32, "unit_end": np.uint32}
# each saved as NAME_table.npy (records), NAME_fence.npy and NAME_filter.npy
_TABLES: dict[str, type[np.generic]] = {"band": np.uint32, "seed": np.uint64}
# how band and seed keys are made: an index (or a shared store) made otherwise cannot be read
FINGERPRINT = {"num_perm": NUM_PERM, "seed": SEED, "scheme": SCHEME, "shingles": SHINGLES,
               "k": K, "stride": STRIDE}
_REBUILD = "rebuild it with 'chachong index build DIR --out PATH'"

Progress = Callable[[int], None]  # called with the number of references just indexed


@dataclass(frozen=True)
class UnitPlaces:
    """Reference units found for one query unit: doc slot, normalised start and end each, and
    the number of LSH bands it shares with the query unit (its votes)."""

    docs: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    votes: np.ndarray

    def strongest(self, limit: int) -> UnitPlaces:
        """At most ``limit`` places: most votes first, then the lower slot (the earlier
        reference)."""
        order = np.lexsort((self.starts, self.docs, -self.votes))[:limit]
        return UnitPlaces(self.docs[order], self.starts[order], self.ends[order],
                          self.votes[order])


@dataclass
class Prepared:
    """Everything the index keeps of one reference, computed without touching the index (so
    worker processes can compute it in parallel)."""

    ref: Reference
    doc: Document | None  # None when only its database row is needed (``row``)
    unit_start: np.ndarray
    unit_end: np.ndarray
    band_keys: np.ndarray  # (units, bands)
    seed_keys: np.ndarray
    seed_pos: np.ndarray
    row: tuple | None = None


def prepare(ref: Reference, bands: int, rows: int, slot: int | None = None) -> Prepared:
    """With ``slot``, the document's database row is made here and the analysis dropped: a
    worker process then sends back only bytes and arrays."""
    doc = analyse(ref.text)
    sigs = signatures([doc.unit_chars(u) for u in doc.units])
    seed_keys, seed_pos = sampled_windows(doc.norm.chars)
    item = Prepared(ref, doc, np.array([u.start for u in doc.units], dtype=np.uint32),
                    np.array([u.end for u in doc.units], dtype=np.uint32),
                    band_keys(sigs, bands, rows), seed_keys, seed_pos)
    if slot is not None:
        item.row, item.doc = doc_row(slot, ref, doc), None
    return item


class Index(Protocol):
    """What checking needs of an index: this module's ReferenceIndex, or one kept in a shared
    store by several servers."""

    def __len__(self) -> int: ...
    def __contains__(self, doc_id: str) -> bool: ...
    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]: ...
    def prefetch(self, slots: set[int]) -> None: ...
    def alive(self, slot: int) -> bool: ...
    def ref(self, slot: int) -> Reference: ...
    def doc(self, slot: int) -> Document: ...
    def chars(self, slot: int) -> str: ...
    def get(self, doc_id: str) -> Reference: ...
    def ids(self) -> list[str]: ...
    def add_many(self, refs: Iterable[Reference], *, replace: bool = False, workers: int = 1,
                 progress: Progress | None = None) -> None: ...
    def remove(self, doc_id: str) -> None: ...


class ReferenceIndex:
    def __init__(self, lsh_threshold: float = LSH_THRESHOLD) -> None:
        self.lsh_threshold = lsh_threshold
        bands, rows = lsh_params(lsh_threshold, NUM_PERM)
        self.bands = BandTable(bands, rows)
        self.seeds = SeedTable()
        self._slot_ids: list[str | None] = []  # slot = internal doc number; None once removed
        self.by_id: dict[str, int] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._disk: DocFile | None = None
        self._disk_slots = 0  # slots below this are read from the DocFile
        self._memory: dict[int, tuple[Reference, Document]] = {}
        # unit columns: a (possibly memory-mapped) base and in-memory additions
        self._units_base = (np.empty(0, np.uint32),) * 3
        self._units_tail: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._units_tail_cat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.by_id

    def ids(self) -> list[str]:
        return [i for i in self._slot_ids if i is not None]

    def references(self) -> Iterator[Reference]:
        for slot, doc_id in enumerate(self._slot_ids):
            if doc_id is not None:
                yield self.ref(slot)

    def get(self, doc_id: str) -> Reference:
        try:
            return self.ref(self.by_id[doc_id])
        except KeyError:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'") from None

    @property
    def slots(self) -> int:
        return len(self._slot_ids)

    def alive(self, slot: int) -> bool:
        return bool(self._alive[slot])

    def ref(self, slot: int) -> Reference:
        return self._entry(slot)[0]

    def doc(self, slot: int) -> Document:
        return self._entry(slot)[1]

    def chars(self, slot: int) -> str:
        """The normalised text of a reference: all that aligning with it needs."""
        if slot < self._disk_slots and self._alive[slot]:
            assert self._disk is not None
            return self._disk.chars(slot)
        return self._entry(slot)[1].norm.chars

    def _entry(self, slot: int) -> tuple[Reference, Document]:
        if not self._alive[slot]:
            raise ReferenceNotFoundError(f"reference number {slot} was removed")
        if slot < self._disk_slots:
            assert self._disk is not None
            return self._disk.get(slot)
        return self._memory[slot]

    # -- units -------------------------------------------------------------------------------

    @property
    def unit_count(self) -> int:
        return len(self._units_base[0]) + sum(len(t[0]) for t in self._units_tail)

    def unit_info(self, unit_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc slot, normalised start, end) of each unit id."""
        ids = np.asarray(unit_ids, dtype=np.int64)
        n_base = len(self._units_base[0])
        if self._units_tail_cat is None:
            cols = [np.concatenate([t[k] for t in self._units_tail]) if self._units_tail
                    else np.empty(0, np.uint32) for k in range(3)]
            self._units_tail_cat = (cols[0], cols[1], cols[2])
        in_base = ids < n_base
        out = []
        for base, tail in zip(self._units_base, self._units_tail_cat, strict=True):
            col = np.empty(len(ids), dtype=np.int64)
            col[in_base] = base[ids[in_base]]
            col[~in_base] = tail[ids[~in_base] - n_base]
            out.append(col)
        return out[0], out[1], out[2]

    # -- lookups shared with other index kinds ----------------------------------------------

    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]:
        """Seed hits of a query's normalised text, and the ``per_unit`` strongest LSH candidates
        of each of its unit signatures."""
        found = self.bands.query(sigs, per_unit)
        if not found:
            return self.seeds.hits(chars), []
        # one gather for all query units: the unit columns are mapped, and gathers cost per call
        docs, starts, ends = self.unit_info(np.concatenate([u for u, _ in found]))
        cut = np.cumsum([len(u) for u, _ in found])[:-1]
        places = [UnitPlaces(d, s, e, votes) for d, s, e, (_, votes) in zip(
            np.split(docs, cut), np.split(starts, cut), np.split(ends, cut), found, strict=True)]
        return self.seeds.hits(chars), places

    def prefetch(self, slots: set[int]) -> None:
        """Read the normalised texts a check will align with in a few queries, not one each."""
        if self._disk is not None:
            self._disk.prefetch_chars({s for s in slots if s < self._disk_slots and self._alive[s]})

    # -- changes -----------------------------------------------------------------------------

    def add(self, ref: Reference, *, replace: bool = False) -> None:
        self.add_many([ref], replace=replace)

    def add_many(self, refs: Iterable[Reference], *, replace: bool = False,
                 workers: int = 1, progress: Progress | None = None) -> None:
        for item in prepared(refs, self.bands.bands, self.bands.rows, workers):
            self._add_prepared(item, replace=replace)
            if progress:
                progress(1)

    def _add_prepared(self, item: Prepared, *, replace: bool) -> None:
        ref = item.ref
        if ref.id in self.by_id:
            if not replace:
                raise DuplicateReferenceError(
                    f"a reference with id '{ref.id}' is already indexed; delete it first or "
                    "choose another id")
            self.remove(ref.id)
        slot = len(self._slot_ids)
        self._slot_ids.append(ref.id)
        self.by_id[ref.id] = slot
        self._alive = np.append(self._alive, True)
        assert item.doc is not None
        self._memory[slot] = (ref, item.doc)
        first_unit = self.unit_count
        n = len(item.unit_start)
        self._units_tail.append((np.full(n, slot, np.uint32), item.unit_start, item.unit_end))
        self._units_tail_cat = None
        self.bands.add_keys(np.arange(first_unit, first_unit + n), item.band_keys)
        self.seeds.add(item.seed_keys, pack(slot, item.seed_pos))

    def remove(self, doc_id: str) -> None:
        slot = self.by_id.pop(doc_id, None)
        if slot is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        self._slot_ids[slot] = None
        self._alive[slot] = False
        self._memory.pop(slot, None)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write a new version of the index folder and switch to it atomically."""
        with IndexWriter(Path(path), self.lsh_threshold) as writer:
            writer.copy_docs(self)
            unit_doc, unit_start, unit_end = self.unit_info(np.arange(self.unit_count))
            alive_unit = self._alive[unit_doc] if len(unit_doc) else np.zeros(0, bool)
            band_units = self.bands.table.all_values()
            keys, units = self.bands.table.merged(alive_unit[band_units] if len(band_units)
                                                  else None)
            seed_values = self.seeds.table.all_values()
            seed_alive = self._alive[(seed_values >> np.uint64(32)).astype(np.int64)] \
                if len(seed_values) else None
            seed_keys, seed_vals = self.seeds.table.merged(seed_alive)
            writer.finish(self.slots, {"unit_doc": unit_doc, "unit_start": unit_start,
                                       "unit_end": unit_end},
                          {"band": (keys, units), "seed": (seed_keys, seed_vals)})

    @classmethod
    def load(cls, path: Path) -> ReferenceIndex:
        path = Path(path)
        folder, header = _read_header(path)
        try:
            columns = {}
            for name, dtype in _COLUMNS.items():
                columns[name] = _random_access(
                    np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
                if columns[name].dtype != dtype or columns[name].ndim != 1:
                    raise ValueError(f"{name} has the wrong type")
            if not len(columns["unit_doc"]) == len(columns["unit_start"]) \
                    == len(columns["unit_end"]):
                raise ValueError("the unit columns disagree in length")
            tables = {name: SortedTable(dtype, FileRun(
                folder / f"{name}_table.npy",
                np.load(folder / f"{name}_fence.npy", allow_pickle=False),
                np.load(folder / f"{name}_filter.npy", allow_pickle=False), dtype))
                for name, dtype in _TABLES.items()}
            index = cls._from_parts(header, columns, tables,
                                    DocFile(folder, int(header["slots"])))
        except (OSError, ValueError, KeyError, TypeError, IndexError, sqlite3.Error) as exc:
            raise IndexFormatError(f"{path}: the index is damaged or inconsistent ({exc}); "
                                   f"{_REBUILD}") from None
        return index

    @classmethod
    def _from_parts(cls, header: dict, columns: dict[str, np.ndarray],
                    tables: dict[str, SortedTable], docs: DocFile) -> ReferenceIndex:
        index = cls(header["lsh_threshold"])
        index.bands = BandTable(int(header["bands"]), int(header["rows"]), tables["band"])
        index.seeds = SeedTable(tables["seed"])
        index._units_base = (columns["unit_doc"], columns["unit_start"], columns["unit_end"])
        slots = int(header["slots"])
        index._slot_ids = [None] * slots
        index._alive = np.zeros(slots, dtype=bool)
        for slot, doc_id in docs.slots():
            index._slot_ids[slot] = doc_id
            index._alive[slot] = True
            index.by_id[doc_id] = slot
        index._disk = docs
        index._disk_slots = slots
        return index

    @staticmethod
    def verify(path: Path) -> None:
        """Check every file against the SHA-256 the header records (load checks only sizes and
        shapes, so that a large index opens in seconds); raises IndexFormatError."""
        folder, header = _read_header(Path(path))
        for name, expected in header["files"].items():
            try:
                digest = _sha256(folder / name)
            except OSError as exc:
                raise IndexFormatError(f"{path}: {name} cannot be read ({exc}); {_REBUILD}") \
                    from None
            if digest != expected["sha256"]:
                raise IndexFormatError(f"{path}: {name} is damaged (checksum differs); "
                                       f"{_REBUILD}")


def _random_access(array: np.ndarray) -> np.ndarray:
    """Tell the kernel lookups jump around: no read-ahead, so a gather by unit number maps only
    the pages it reads (less I/O, and resident memory grows with what checks touch)."""
    mapping = getattr(array, "_mmap", None)
    if mapping is not None and hasattr(mmap, "MADV_RANDOM"):
        mapping.madvise(mmap.MADV_RANDOM)
    return array


def prepared(refs: Iterable[Reference], bands: int, rows: int, workers: int = 1,
             rows_from: int | None = None) -> Iterator[Prepared]:
    """Prepare references in order, in ``workers`` processes when more than one; with
    ``rows_from``, as database rows for slots numbered from there."""
    jobs = ((ref, bands, rows, None if rows_from is None else rows_from + i)
            for i, ref in enumerate(refs))
    if workers <= 1:
        yield from map(_prepare_job, jobs)
        return
    import multiprocessing

    # fork: the workers share the loaded jieba dictionary instead of loading their own
    with multiprocessing.get_context("fork").Pool(workers, _plain_signals) as pool:
        yield from pool.imap(_prepare_job, jobs, chunksize=16)


def _plain_signals() -> None:
    """A forked worker inherits its parent's Python signal handlers; one that exits on SIGTERM
    would run the worker's exit hooks, which wait for queue locks, when the pool terminates it at
    the end, and the build would hang. Workers die on SIGTERM and leave SIGINT to the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare_job(args: tuple[Reference, int, int, int | None]) -> Prepared:
    return prepare(*args)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_header(path: Path) -> tuple[Path, dict]:
    if not path.exists():
        raise IndexFormatError(f"{path}: no such index; build one with 'chachong index build "
                               "DIR --out PATH'")
    try:
        version = (path / CURRENT_FILE).read_text(encoding="ascii").strip()
        if not version.startswith("v-") or "/" in version or "\\" in version:
            raise ValueError(f"bad {CURRENT_FILE}")
        folder = path / version
        header = json.loads((folder / HEADER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise IndexFormatError(f"{path}: not a readable chachong index ({exc}); {_REBUILD}") \
            from None
    if not isinstance(header, dict):
        raise IndexFormatError(f"{path}: the index header is damaged; {_REBUILD}")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise IndexFormatError(f"{path}: index format {header.get('format')} version "
                               f"{header.get('version')} is not supported (expected version "
                               f"{VERSION}); {_REBUILD}")
    if any(header.get(k) != v for k, v in FINGERPRINT.items()):
        raise IndexFormatError(f"{path}: built with other fingerprint parameters; {_REBUILD}")
    if not isinstance(header.get("files"), dict) or not isinstance(header.get("slots"), int):
        raise IndexFormatError(f"{path}: the index header is incomplete; {_REBUILD}")
    return folder, header


class IndexWriter:
    """Writes one new version folder of an index and publishes it (or leaves no trace)."""

    def __init__(self, path: Path, lsh_threshold: float) -> None:
        self.path = path
        self.lsh_threshold = lsh_threshold
        if path.exists() and not path.is_dir():
            raise IndexFormatError(f"{path} exists and is not an index folder; choose another "
                                   "path")
        path.mkdir(exist_ok=True)  # its parent must exist: a typo should not grow folders
        self.folder = Path(tempfile.mkdtemp(dir=path, prefix="v-"))
        try:
            self.docs = DocWriter(self.folder)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self._done = False

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.docs.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def copy_docs(self, index: ReferenceIndex) -> None:
        """The documents of ``index``: the saved ones copied as they are from its files."""
        if index._disk is not None:
            self.docs.copy(index._disk, [slot for slot in range(index._disk_slots)
                                         if index._alive[slot]])
        self.docs.add(doc_row(slot, ref, doc) for slot, (ref, doc) in
                      sorted(index._memory.items()))

    def add_docs(self, rows: Iterable[tuple]) -> None:
        self.docs.add(rows)

    def finish(self, slots: int, columns: dict[str, np.ndarray],
               tables: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Write the unit ``columns`` and the sorted ``tables`` (name -> keys, values), then
        publish the folder."""
        self.docs.close(slots)
        files = {}
        for name, values in columns.items():
            np.save(self.folder / f"{name}.npy", np.ascontiguousarray(values, _COLUMNS[name]))
        for name, (keys, values) in tables.items():
            fence, key_filter = write_run(self.folder / f"{name}_table.npy", keys,
                                          np.asarray(values, _TABLES[name]))
            np.save(self.folder / f"{name}_fence.npy", fence)
            np.save(self.folder / f"{name}_filter.npy", key_filter)
        for file in sorted(self.folder.iterdir()):
            with file.open("rb+") as fh:
                os.fsync(fh.fileno())
            files[file.name] = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
        bands, rows = lsh_params(self.lsh_threshold, NUM_PERM)
        header = {"format": FORMAT, "version": VERSION, **FINGERPRINT,
                  "lsh_threshold": self.lsh_threshold, "bands": bands, "rows": rows,
                  "slots": slots, "files": files}
        _write_synced(self.folder / HEADER_FILE, json.dumps(header, indent=1).encode())
        _write_synced(self.path / f"{CURRENT_FILE}.tmp", self.folder.name.encode())
        os.replace(self.path / f"{CURRENT_FILE}.tmp", self.path / CURRENT_FILE)
        self._done = True
        for old in self.path.iterdir():  # earlier versions; a process still reading keeps its
            if old.is_dir() and old.name.startswith("v-") and old != self.folder:  # open maps
                shutil.rmtree(old, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def build_index(refs: Iterable[Reference], lsh_threshold: float = LSH_THRESHOLD) -> ReferenceIndex:
    index = ReferenceIndex(lsh_threshold)
    index.add_many(refs)
    return index


def build_index_folder(refs: Iterable[Reference], path: Path, *, workers: int = 1,
                       lsh_threshold: float = LSH_THRESHOLD,
                       progress: Progress | None = None) -> int:
    """Index ``refs`` straight into a saved index at ``path`` (documents go to disk as they are
    prepared, so memory holds only the arrays); returns the number of references."""
    bands, rows = lsh_params(lsh_threshold, NUM_PERM)
    seen: set[str] = set()
    band_parts: list[np.ndarray] = []
    seed_key_parts: list[np.ndarray] = []
    seed_value_parts: list[np.ndarray] = []
    unit_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_units = 0
    with IndexWriter(Path(path), lsh_threshold) as writer:
        batch: list[tuple] = []
        for slot, item in enumerate(prepared(refs, bands, rows, workers, rows_from=0)):
            if item.ref.id in seen:
                raise DuplicateReferenceError(f"the id '{item.ref.id}' occurs twice")
            seen.add(item.ref.id)
            n = len(item.unit_start)
            band_parts.append(item.band_keys.ravel())
            unit_parts.append((np.full(n, slot, np.uint32), item.unit_start, item.unit_end))
            seed_key_parts.append(item.seed_keys)
            seed_value_parts.append(pack(slot, item.seed_pos))
            n_units += n
            assert item.row is not None
            batch.append(item.row)
            if len(batch) >= 256:
                writer.add_docs(batch)
                batch = []
            if progress:
                progress(1)
        writer.add_docs(batch)
        all_keys = _cat(band_parts, np.uint64)
        del band_parts
        keys, order = sort_keys(all_keys, max(workers, 1))
        del all_keys
        units = (order // bands).astype(np.uint32)  # entry i belongs to unit i // bands
        del order
        seed_keys, seed_values = _sorted_pair(_cat(seed_key_parts, np.uint64),
                                              _cat(seed_value_parts, np.uint64), workers)
        writer.finish(len(seen), {
            "unit_doc": _cat([p[0] for p in unit_parts], np.uint32),
            "unit_start": _cat([p[1] for p in unit_parts], np.uint32),
            "unit_end": _cat([p[2] for p in unit_parts], np.uint32)},
            {"band": (keys, units), "seed": (seed_keys, seed_values)})
    return len(seen)


def _cat(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def _sorted_pair(keys: np.ndarray, values: np.ndarray,
                 workers: int) -> tuple[np.ndarray, np.ndarray]:
    keys, order = sort_keys(keys, max(workers, 1))
    return keys, values[order]
