"""The reference index as detection sees it: parts that answer postings, combined into one.

An index is one or more *parts*, each holding some references: the in-memory
``ReferenceIndex`` here, or the storage engine's segments on disk. Every reference has a global
*slot*, a number that grows with the order references were added, and each part holds the slots
of one range, disjoint from the others. ``MultiIndex`` combines parts so that a check sees them
as a single index: a key's postings in every part are counted together for the stock-phrase
rule, and ties between candidates go to the lower slot (the earlier reference, the original
rather than a later copy). A check against several parts therefore finds exactly what it finds
against one part holding the same references, however they are split.
"""

from __future__ import annotations

import bisect
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from .corpus import Reference
from .document import Document, analyse, source_document
from .errors import DuplicateReferenceError, ReferenceNotFoundError
from .fingerprint import NUM_PERM, SCHEME, SEED, SHINGLES, signatures
from .lsh import MAX_BAND_POSTINGS, band_keys, lsh_params, rank_votes
from .seeds import (
    MAX_POSTINGS,
    STRIDE,
    Hits,
    K,
    crowding,
    pack,
    sampled_windows,
    window_hashes,
)
from .table import POSTING_BITS, SortedTable, distinct, uncrowded

LSH_THRESHOLD = 0.3  # units this similar (Jaccard of shingles) are candidates; all are verified
# how band and seed keys are made: an index (or a shared store) made otherwise cannot be read
FINGERPRINT = {"num_perm": NUM_PERM, "seed": SEED, "scheme": SCHEME, "shingles": SHINGLES,
               "k": K, "stride": STRIDE, "key_bits": 64 - POSTING_BITS}

# a band posting's unit while parts are combined: the part's number above its own unit number
_PART_SHIFT = 40
_OWN_UNIT = (1 << _PART_SHIFT) - 1
_RANK_UNIT_BITS = 24  # a segment's units (2**24 at most) beside up to 256 parts, in 32 bits

Progress = Callable[[int], None]  # called with the number of references just indexed
T = TypeVar("T")


@dataclass(frozen=True)
class UnitPlaces:
    """Reference units found for one query unit: doc slot, normalised start and end each, and
    the number of LSH bands it shares with the query unit (its votes)."""

    docs: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    votes: np.ndarray

    def first(self, limit: int) -> UnitPlaces:
        """The first ``limit`` places of places already ranked (as every lookup gives them):
        the same as ``strongest(limit)``, without sorting again."""
        return UnitPlaces(self.docs[:limit], self.starts[:limit], self.ends[:limit],
                          self.votes[:limit])

    def strongest(self, limit: int) -> UnitPlaces:
        """At most ``limit`` places: most votes first, then the lower slot (the earlier
        reference)."""
        order = np.lexsort((self.starts, self.docs, -self.votes))[:limit]
        return UnitPlaces(self.docs[order], self.starts[order], self.ends[order],
                          self.votes[order])


# --- preparing a reference -------------------------------------------------------------------

@dataclass
class Prepared:
    """Everything an index keeps of one reference, computed without touching any index (so
    worker processes can compute it in parallel)."""

    ref: Reference
    chars: str  # the normalised text
    unit_start: np.ndarray  # uint32, normalised offsets of the sentence units
    unit_end: np.ndarray
    band_keys: np.ndarray  # uint64, (units, bands)
    seed_keys: np.ndarray  # uint64, the sampled windows (at 0, STRIDE, 2 * STRIDE, ...)
    doc: Document | None = None  # the analysis, when at hand (else made again when needed)


def prepare(ref: Reference, bands: int, rows: int) -> Prepared:
    doc = analyse(ref.text)
    sigs = signatures([doc.unit_chars(u) for u in doc.units])
    return Prepared(ref, doc.norm.chars, np.array([u.start for u in doc.units], dtype=np.uint32),
                    np.array([u.end for u in doc.units], dtype=np.uint32),
                    band_keys(sigs, bands, rows), sampled_windows(doc.norm.chars)[0], doc)


AHEAD = 1024  # prepared references a build may hold beyond what it has written (~40 MB)


def prepared(refs: Iterable[Reference], bands: int, rows: int, workers: int = 1,
             finish: Callable[[Prepared], T] | None = None) -> Iterator[T]:
    """Prepare references in order, in ``workers`` processes when more than one; ``finish``
    turns each into what the caller keeps, in the worker (so only that is sent back)."""
    jobs = ((ref, bands, rows, finish) for ref in refs)
    if workers <= 1:
        yield from map(_prepare_job, jobs)
        return
    import multiprocessing
    import threading

    # the pool keeps every finished result until the caller takes it: while the caller is busy
    # (writing a segment) the workers would pile up results without end, so at most
    # AHEAD jobs are handed out beyond what the caller has taken. The pool sends jobs in chunks
    # it fills before sending: a chunk larger than AHEAD would wait for room that never comes.
    room = threading.Semaphore(AHEAD)
    chunk = max(1, min(16, AHEAD // 2))
    stopped = False

    def handed_out() -> Iterator[tuple[Reference, int, int, Callable[[Prepared], Any] | None]]:
        for job in jobs:
            room.acquire()
            if stopped:
                return
            yield job

    # fork: the workers share the loaded jieba dictionary instead of loading their own
    with multiprocessing.get_context("fork").Pool(workers, _plain_signals) as pool:
        try:
            for result in pool.imap(_prepare_job, handed_out(), chunksize=chunk):
                room.release()
                yield result
        finally:
            stopped = True
            room.release()  # the pool's feeding thread may wait for room: let it see the stop


def _plain_signals() -> None:
    """A forked worker inherits its parent's Python signal handlers; one that exits on SIGTERM
    would run the worker's exit hooks, which wait for queue locks, when the pool terminates it at
    the end, and the build would hang. Workers die on SIGTERM and leave SIGINT to the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare_job(args: tuple[Reference, int, int, Callable[[Prepared], Any] | None]) -> Any:
    ref, bands, rows, finish = args
    item = prepare(ref, bands, rows)
    return finish(item) if finish is not None else item


# --- what checking needs ----------------------------------------------------------------------

SeedPostings = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # at, slot, pos, counts
Limit = int | np.ndarray  # the most postings a key may have to be answered: for all, or a key
BandPostings = tuple[np.ndarray, np.ndarray, np.ndarray]  # at, unit (the part's own), counts
UnitColumns = tuple[np.ndarray, np.ndarray, np.ndarray]  # slot, start, end of units


class Part(Protocol):
    """Some references of an index, with their slots in [first_slot, end_slot).

    Postings name the query key they answer (``at``) and a live reference's slot (a seed) or
    unit (a band: the part's own number for it, below 2**40, numbering units in the order of
    their slots and starts; ``unit_places`` gives their slot, start and end); ``counts`` gives,
    per key, every posting the part holds (removed references included), and a key held more
    than ``limit`` (one for all keys, or one a key) gives none."""

    first_slot: int
    end_slot: int

    def __len__(self) -> int: ...
    def seed_postings(self, keys: np.ndarray, limit: Limit) -> SeedPostings: ...
    def band_postings(self, keys: np.ndarray, limit: Limit) -> BandPostings: ...
    def unit_places(self, units: np.ndarray) -> UnitColumns: ...
    def slot_of(self, doc_id: str) -> int | None: ...
    def alive(self, slot: int) -> bool: ...
    def alive_many(self, slots: np.ndarray) -> np.ndarray: ...
    def ref(self, slot: int) -> Reference: ...
    def doc(self, slot: int) -> Document: ...
    def chars(self, slot: int) -> str: ...
    def prefetch(self, slots: set[int]) -> dict[int, str]: ...


class Index(Protocol):
    """What checking needs of an index: parts combined (``MultiIndex``, or one
    ``ReferenceIndex``), or one kept in a shared store by several servers."""

    def __len__(self) -> int: ...
    def __contains__(self, doc_id: str) -> bool: ...
    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]: ...
    def prefetch(self, slots: set[int]) -> dict[int, str]: ...
    def alive(self, slot: int) -> bool: ...
    def alive_many(self, slots: np.ndarray) -> np.ndarray: ...
    def ref(self, slot: int) -> Reference: ...
    def doc(self, slot: int) -> Document: ...
    def chars(self, slot: int) -> str: ...
    def get(self, doc_id: str) -> Reference: ...


def _combine(answers: Sequence[tuple[np.ndarray, ...]], n_keys: int,
             limit: int) -> tuple[np.ndarray, ...]:
    """Several parts' postings as one: columns concatenated, counts summed, and the postings of
    a key held more than ``limit`` times in all left out."""
    if len(answers) == 1:
        return answers[0]
    if not answers:
        return (np.empty(0, np.int64),) * 4 + (np.zeros(n_keys, np.int64),)
    columns = [np.concatenate([a[i] for a in answers]) for i in range(len(answers[0]) - 1)]
    counts = np.sum([a[-1] for a in answers], axis=0)
    keep = uncrowded(columns[0], counts, limit)
    if keep is not None:
        columns = [c[keep] for c in columns]
    return (*columns, counts)


def rank_places(parts: Sequence[Part], query: np.ndarray, units: np.ndarray, n_queries: int,
                bands: int, per_unit: int) -> list[UnitPlaces]:
    """Band postings (query unit, reference unit: its part's number above the part's own unit
    number) ranked per query unit: most shared bands first, then the earlier reference unit; at
    most ``per_unit``. Only the units kept are placed (slot, start, end): a check's band
    postings are tens of thousands, the units it keeps a few hundred."""
    if not len(units):
        none = np.empty(0, np.int64)
        return [UnitPlaces(none, none, none, none)] * n_queries
    # a part numbers its units in slot and start order, and parts hold ascending slot ranges:
    # (part, unit) orders units as (slot, start) does. A ranking key keeps 32 bits for it
    own = units & _OWN_UNIT
    if len(parts) <= 1 << (32 - _RANK_UNIT_BITS) and int(own.max()) < 1 << _RANK_UNIT_BITS:
        ranks = (units >> _PART_SHIFT) << _RANK_UNIT_BITS | own
        found = None
    else:  # too many to pack: their dense rank
        found = distinct(units)
        ranks = np.searchsorted(found, units)
    ranked = rank_votes(query, ranks, n_queries, bands, per_unit)
    kept = distinct(np.concatenate([r for r, _ in ranked]))
    chosen = found[kept] if found is not None else \
        (kept >> _RANK_UNIT_BITS) << _PART_SHIFT | kept & ((1 << _RANK_UNIT_BITS) - 1)
    slots, starts, ends = (np.empty(len(chosen), np.int64) for _ in range(3))
    owner = chosen >> _PART_SHIFT
    for i in distinct(owner).tolist():
        mine = owner == i
        slots[mine], starts[mine], ends[mine] = parts[i].unit_places(chosen[mine] & _OWN_UNIT)
    return [UnitPlaces(slots[at], starts[at], ends[at], votes)
            for at, votes in ((np.searchsorted(kept, r), v) for r, v in ranked)]


def lookup_parts(parts: Sequence[Part], chars: str, sigs: np.ndarray, per_unit: int,
                 bands: int, rows: int) -> tuple[Hits, list[UnitPlaces]]:
    """Seed hits of a query's normalised text, and the ``per_unit`` strongest LSH candidates of
    each of its unit signatures, over all ``parts`` as one index."""
    windows = window_hashes(chars)
    at, slots, pos, counts = _in_key_order(parts, windows, _seed_postings, MAX_POSTINGS)
    hits = Hits(at, slots, pos, crowding(counts))
    if not len(sigs):
        return hits, []
    keys = band_keys(sigs, bands, rows).ravel()
    numbers = {id(part): i for i, part in enumerate(parts)}

    def band_postings(part: Part, keys: np.ndarray, limit: Limit) -> BandPostings:
        at, units, counts = part.band_postings(keys, limit)
        return at, np.asarray(units, np.int64) | numbers[id(part)] << _PART_SHIFT, counts

    # a band key's count only decides whether it is crowded: once it is, no part is asked
    at, units, _ = _in_key_order(parts, keys, band_postings, MAX_BAND_POSTINGS,
                                 exact_counts=False)
    return hits, rank_places(parts, at // bands, units, len(sigs), bands, per_unit)


def _seed_postings(part: Part, keys: np.ndarray, limit: Limit) -> SeedPostings:
    return part.seed_postings(keys, limit)


def _in_key_order(parts: Sequence[Part], keys: np.ndarray,
                  ask: Callable[[Part, np.ndarray, Limit], tuple[np.ndarray, ...]],
                  limit: int, exact_counts: bool = True) -> tuple[np.ndarray, ...]:
    """Every part's postings of ``keys``, combined. The keys are sorted once here: a part
    searches them in key order. Each part is asked with what the parts before it left of a
    key's limit: a stock phrase is in every segment, below the limit in each, and its postings
    would be decoded in all of them only to be dropped together (half of a check's postings on
    an index of five segments). A key past its limit is still counted in every part; without
    ``exact_counts`` its count is only known to be past the limit, and later parts skip it
    (reading the blocks where it starts and ends in each part only to count it). A key just
    at its limit is asked on: one more posting in a later part makes it crowded."""
    if len(parts) < 2:
        return _combine([ask(p, keys, limit) for p in parts], len(keys), limit)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    answers, seen = [], np.zeros(len(keys), np.int64)
    for part in parts:
        left = np.maximum(limit - seen, 0)
        asked = None if exact_counts else np.flatnonzero(seen <= limit)
        if asked is None or len(asked) == len(keys):
            answers.append(ask(part, ordered, left))
        else:
            at, *columns, some = ask(part, ordered[asked], left[asked])
            counts = np.zeros(len(keys), np.int64)
            counts[asked] = some
            answers.append((asked[at], *columns, counts))
        seen += answers[-1][-1]
    at, *columns, counts = _combine(answers, len(keys), limit)
    unsorted = np.empty_like(counts)
    unsorted[order] = counts
    return (order[at], *columns, unsorted)


class MultiIndex:
    """Parts with disjoint slot ranges, checked as one index."""

    def __init__(self, parts: Sequence[Part], lsh_threshold: float = LSH_THRESHOLD) -> None:
        self.parts = sorted(parts, key=lambda p: p.first_slot)
        for a, b in zip(self.parts, self.parts[1:], strict=False):
            if b.first_slot < a.end_slot:
                raise ValueError("the parts of an index must hold disjoint slot ranges")
        self._firsts = [p.first_slot for p in self.parts]
        self.bands, self.rows = lsh_params(lsh_threshold, NUM_PERM)

    def part(self, slot: int) -> Part:
        i = bisect.bisect_right(self._firsts, slot) - 1
        if i < 0 or slot >= self.parts[i].end_slot:
            raise ReferenceNotFoundError(f"no reference number {slot}")
        return self.parts[i]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __contains__(self, doc_id: str) -> bool:
        return any(p.slot_of(doc_id) is not None for p in self.parts)

    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]:
        return lookup_parts(self.parts, chars, sigs, per_unit, self.bands, self.rows)

    def prefetch(self, slots: set[int]) -> dict[int, str]:
        by_part: dict[int, set[int]] = {}
        for slot in slots:
            by_part.setdefault(bisect.bisect_right(self._firsts, slot) - 1, set()).add(slot)
        texts: dict[int, str] = {}
        for i, wanted in by_part.items():
            if i >= 0:
                texts.update(self.parts[i].prefetch(wanted))
        return texts

    def alive(self, slot: int) -> bool:
        try:
            return self.part(slot).alive(slot)
        except ReferenceNotFoundError:  # a slot of no part: as a part answers, not alive
            return False

    def alive_many(self, slots: np.ndarray) -> np.ndarray:
        """``alive`` of each slot (int64 array), asked of each part once."""
        slots = np.asarray(slots, np.int64)
        out = np.zeros(len(slots), bool)
        which = np.searchsorted(np.array(self._firsts, np.int64), slots, side="right") - 1
        for i in np.unique(which[which >= 0]).tolist():
            mine = which == i
            out[mine] = self.parts[i].alive_many(slots[mine])
        return out

    def ref(self, slot: int) -> Reference:
        return self.part(slot).ref(slot)

    def doc(self, slot: int) -> Document:
        return self.part(slot).doc(slot)

    def chars(self, slot: int) -> str:
        return self.part(slot).chars(slot)

    def slot_of(self, doc_id: str) -> int | None:
        for part in self.parts:
            slot = part.slot_of(doc_id)
            if slot is not None:
                return slot
        return None

    def get(self, doc_id: str) -> Reference:
        slot = self.slot_of(doc_id)
        if slot is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        return self.ref(slot)


@dataclass
class _Entry:
    ref: Reference
    chars: str
    doc: Document | None


class ReferenceIndex:
    """References in memory: a part (slots from ``first_slot`` up, in the order added) that is
    also an index on its own."""

    def __init__(self, lsh_threshold: float = LSH_THRESHOLD, first_slot: int = 0) -> None:
        self.lsh_threshold = lsh_threshold
        self.bands, self.rows = lsh_params(lsh_threshold, NUM_PERM)
        self.first_slot = self.end_slot = first_slot
        self._band_table = SortedTable(np.uint32)  # band key -> unit number
        self._seed_table = SortedTable(np.uint64)  # window -> (doc number, position)
        self._entries: list[_Entry | None] = []  # doc number -> entry
        self._slots: list[int] = []  # doc number -> slot, increasing
        self._alive = np.zeros(16, dtype=bool)
        self.by_id: dict[str, int] = {}  # id -> doc number
        self._unit_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._units: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._slot_array: np.ndarray | None = None

    # -- the part ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.by_id

    def _number(self, slot: int) -> int:
        i = bisect.bisect_left(self._slots, slot)
        if i == len(self._slots) or self._slots[i] != slot:
            raise ReferenceNotFoundError(f"no reference number {slot}")
        return i

    def slot_of(self, doc_id: str) -> int | None:
        number = self.by_id.get(doc_id)
        return None if number is None else self._slots[number]

    def alive(self, slot: int) -> bool:
        i = bisect.bisect_left(self._slots, slot)
        return i < len(self._slots) and self._slots[i] == slot and bool(self._alive[i])

    def alive_many(self, slots: np.ndarray) -> np.ndarray:
        held = self._columns()[3]
        i = np.searchsorted(held, slots)
        found = i < len(held)
        found[found] = held[i[found]] == slots[found]
        found[found] = self._alive[i[found]]
        return found

    def _entry(self, slot: int) -> _Entry:
        entry = self._entries[self._number(slot)]
        if entry is None:
            raise ReferenceNotFoundError(f"reference number {slot} was removed")
        return entry

    def ref(self, slot: int) -> Reference:
        return self._entry(slot).ref

    def doc(self, slot: int) -> Document:
        entry = self._entry(slot)
        if entry.doc is None:
            entry.doc = source_document(entry.ref.text)
        return entry.doc

    def chars(self, slot: int) -> str:
        return self._entry(slot).chars

    def prefetch(self, slots: set[int]) -> dict[int, str]:
        """Everything is in memory already: the live ones' texts."""
        return {slot: self.chars(slot) for slot in slots if self.alive(slot)}

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Unit columns (doc number, start, end) and the slot of each doc number, gathered once
        after a change."""
        if self._units is None:
            cols = [np.concatenate([p[k] for p in self._unit_parts]) if self._unit_parts
                    else np.empty(0, np.uint32) for k in range(3)]
            self._units = (cols[0], cols[1], cols[2])
            self._slot_array = np.array(self._slots, dtype=np.int64)
        assert self._slot_array is not None
        return (*self._units, self._slot_array)

    def band_postings(self, keys: np.ndarray, limit: Limit = MAX_BAND_POSTINGS) -> BandPostings:
        at, units, counts = self._band_table.lookup(keys, limit)
        live = self._alive[self._columns()[0][units]]
        return at[live], units[live].astype(np.int64), counts

    def unit_places(self, units: np.ndarray) -> UnitColumns:
        docs, starts, ends, slots = self._columns()
        return (slots[docs[units].astype(np.int64)], starts[units].astype(np.int64),
                ends[units].astype(np.int64))

    def seed_postings(self, keys: np.ndarray, limit: Limit = MAX_POSTINGS) -> SeedPostings:
        at, values, counts = self._seed_table.lookup(keys, limit)
        numbers = (values >> np.uint64(32)).astype(np.int64)
        live = self._alive[numbers]
        slots = self._columns()[3]
        return (at[live].astype(np.int64), slots[numbers[live]],
                (values[live] & np.uint64(0xFFFFFFFF)).astype(np.int64), counts)

    # -- the index on its own -------------------------------------------------------------------

    def lookup(self, chars: str, sigs: np.ndarray,
               per_unit: int) -> tuple[Hits, list[UnitPlaces]]:
        return lookup_parts([self], chars, sigs, per_unit, self.bands, self.rows)

    def get(self, doc_id: str) -> Reference:
        number = self.by_id.get(doc_id)
        if number is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        return self.ref(self._slots[number])

    def ids(self) -> list[str]:
        return [entry.ref.id for entry in self._entries if entry is not None]

    def references(self) -> Iterator[Reference]:
        for entry in self._entries:
            if entry is not None:
                yield entry.ref

    # -- changes -------------------------------------------------------------------------------

    def add(self, ref: Reference, *, replace: bool = False) -> None:
        self.add_many([ref], replace=replace)

    def add_many(self, refs: Iterable[Reference], *, replace: bool = False,
                 workers: int = 1, progress: Progress | None = None) -> None:
        items: Iterator[Prepared] = prepared(refs, self.bands, self.rows, workers)
        for item in items:
            self.add_prepared(item, replace=replace)
            if progress:
                progress(1)

    def add_prepared(self, item: Prepared, slot: int | None = None, *,
                     replace: bool = False) -> int:
        """Index a prepared reference under ``slot`` (default: the next one; never below it);
        returns the slot."""
        ref = item.ref
        if ref.id in self.by_id:
            if not replace:
                raise DuplicateReferenceError(
                    f"a reference with id '{ref.id}' is already indexed; delete it first or "
                    "choose another id")
            self.remove(ref.id)
        slot = self.end_slot if slot is None else slot
        if slot < self.end_slot:
            raise ValueError(f"slot {slot} is below the next free slot {self.end_slot}")
        number = len(self._entries)
        self._entries.append(_Entry(ref, item.chars, item.doc))
        self._slots.append(slot)
        self.end_slot = slot + 1
        if number == len(self._alive):
            self._alive = np.concatenate([self._alive, np.zeros(len(self._alive), bool)])
        self._alive[number] = True
        self.by_id[ref.id] = number
        first_unit = sum(len(p[0]) for p in self._unit_parts)
        n = len(item.unit_start)
        self._unit_parts.append((np.full(n, number, np.uint32), item.unit_start, item.unit_end))
        self._units = None
        self._band_table.add(item.band_keys.ravel(),
                             np.repeat(np.arange(first_unit, first_unit + n, dtype=np.uint32),
                                       self.bands))
        self._seed_table.add(item.seed_keys,
                             pack(number, np.arange(len(item.seed_keys), dtype=np.uint64)
                                  * np.uint64(STRIDE)))
        return slot

    def remove(self, doc_id: str) -> None:
        number = self.by_id.pop(doc_id, None)
        if number is None:
            raise ReferenceNotFoundError(f"no reference with id '{doc_id}'")
        self._entries[number] = None
        self._alive[number] = False


def build_index(refs: Iterable[Reference], lsh_threshold: float = LSH_THRESHOLD) -> ReferenceIndex:
    index = ReferenceIndex(lsh_threshold)
    index.add_many(refs)
    return index
