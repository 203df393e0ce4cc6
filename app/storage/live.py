"""One process's view of an index folder: the manifest's segments plus the log's tail.

Every process serving a folder keeps one. ``sync`` brings it up to date before a check or a
read: it moves to a newer manifest when one was published (a flush or a merge), and applies the
log entries it has not seen, so an addition or removal made by any process is found by the next
check here. Additions that no segment holds yet live in an in-memory index, the *tail*, built
from their prepared records (nothing is prepared twice); removals of references that a segment
holds are marks applied to its part until a flush writes them into the manifest.

The log entries after a manifest's ``flushed_seq`` are always still in the log: a flush
publishes its manifest before it drops what it wrote, and a reader that finds the log flushed
beyond its manifest reads the manifest again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from app.core.corpus import Reference
from app.core.errors import IndexFormatError, ReferenceNotFoundError
from app.core.fingerprint import NUM_PERM
from app.core.index import LSH_THRESHOLD, Part, Prepared, ReferenceIndex, prepared
from app.core.lsh import lsh_params

from .folder import IndexFolder
from .manifest import Manifest
from .records import Record
from .segment import SegmentPart
from .shared_log import SharedLog
from .wal import Entry, Summary, Wal

DATA_SLOTS = 1 << 32  # slot base of an index that grows; a base corpus uses slots below it
REPLICATE_BATCH = 1000  # entries of a partition copied in at a time
_RETRIES = 20


class LiveIndex:
    """With ``shared``, additions and removals go to the shared log, and ``sync`` first copies
    in what any server logged there (the folder is then a cache of the shared corpus)."""

    def __init__(self, path: Path, *, slot_base: int = DATA_SLOTS, readonly: bool = False,
                 create: bool = True, shared: SharedLog | None = None) -> None:
        self.shared = shared
        self._following: str | None = None  # the shared store's identity this folder copies
        self.folder = IndexFolder(path, create=create, readonly=readonly)
        self.slot_base = slot_base
        self.bands, self.rows = lsh_params(LSH_THRESHOLD, NUM_PERM)
        self.manifest = Manifest(generation=-1)
        self.seen = -1  # the last log entry applied
        self._tail_items: dict[int, Prepared] = {}  # seq -> an addition no segment holds yet
        self._removed: dict[int, int] = {}  # removal seq -> seq of the reference it removes
        self._segment_parts: list[SegmentPart] = []
        # the manifest's removal marks per segment, as read when it was loaded: once a newer
        # manifest is published the files may be gone (another process cleans up)
        self._manifest_dead: dict[str, np.ndarray] = {}
        self._tail = ReferenceIndex(first_slot=slot_base)
        self._parts: list[Part] | None = None
        self.version = 0  # grows with every change a check would see
        self.sync(replicate=False)  # the shared store's errors answer the first request

    # -- keeping up ----------------------------------------------------------------------------

    def sync(self, *, replicate: bool = True) -> None:
        """Catch up with the folder (and first with the shared log, with ``replicate``)."""
        if replicate and self.shared is not None and self.folder.wal is not None:
            self._replicate(self.shared, self.folder.wal)
        for _ in range(_RETRIES):
            if self.folder.current_name() != self.manifest.file:
                self._load(self.folder.manifest())
            if self.folder.wal is None:
                return
            flushed, entries = self.folder.wal.since(max(self.seen, self.manifest.flushed_seq))
            if flushed > self.manifest.flushed_seq:
                continue  # a flush published a newer manifest since we read ours
            if entries:
                self._apply(entries)
            return
        raise IndexFormatError(f"{self.folder.path}: the index keeps changing under us")

    def _replicate(self, shared: SharedLog, wal: Wal) -> None:
        """Copy in what the shared log holds beyond what this folder has; a store with another
        identity (replaced, or emptied) first removes what was copied from the old one."""
        while True:
            identity, entries = shared.since(wal.pulled(), REPLICATE_BATCH)
            if identity is None:  # emptied since its layout was checked: recorded again
                shared.forget_layout()
                continue
            if identity != self._following:
                wal.follow(identity)
                self._following = identity
                continue
            wal.ingest(entries)
            counts = Counter(e.partition for e in entries)
            if not counts or max(counts.values()) < REPLICATE_BATCH:
                return

    def _load(self, manifest: Manifest) -> None:
        """Move to ``manifest``: its segments, and the tail past its flushed_seq."""
        for _ in range(_RETRIES):
            try:
                self._segment_parts = self.folder.parts(manifest, self.slot_base)
                break
            except IndexFormatError:
                if self.folder.current_name() == manifest.file:
                    raise
                manifest = self.folder.manifest()  # merged away under us: the newer one
        self.manifest = manifest
        self._manifest_dead = {p.segment.name: ~p.alive_mask for p in self._segment_parts}
        flushed = manifest.flushed_seq
        self._tail_items = {s: item for s, item in self._tail_items.items() if s > flushed}
        self._removed = {s: target for s, target in self._removed.items() if s > flushed}
        self.seen = max(self.seen, flushed)
        self._rebuild()

    def _apply(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry.op == "add":
                assert entry.record is not None
                item = Record.from_bytes(entry.record).prepared()
                self._tail_items[entry.seq] = item
                self._tail.add_prepared(item, self.slot_base + entry.seq)
            else:
                assert entry.target is not None
                self._removed[entry.seq] = entry.target
                if self._tail_items.pop(entry.target, None) is not None:
                    self._tail.remove(entry.ref_id)
            self.seen = entry.seq
        if any(e.op == "delete" for e in entries):
            self._mark_removed()
        self._parts = None
        self.version += 1

    def _rebuild(self) -> None:
        """The tail and the removal marks again, after a new manifest."""
        self._tail = ReferenceIndex(first_slot=self.slot_base + self.manifest.flushed_seq + 1)
        for seq, item in sorted(self._tail_items.items()):
            self._tail.add_prepared(item, self.slot_base + seq)
        self._mark_removed()
        self._parts = None
        self.version += 1

    def _mark_removed(self) -> None:
        """Removals the manifest does not hold yet, applied to the segments' parts."""
        targets = np.array(sorted(self._removed.values()), np.int64)
        parts = []
        for part in self._segment_parts:
            seq = part.segment.seq
            hit = np.isin(seq, targets) if len(targets) else np.zeros(len(seq), bool)
            dead = self._manifest_dead[part.segment.name] | hit
            part.segment.forget(np.flatnonzero(dead))
            parts.append(SegmentPart(part.segment, self.slot_base, dead))
        self._segment_parts = parts

    def parts(self) -> list[Part]:
        """The parts a check searches now (segments, then the tail)."""
        if self._parts is None:
            self._parts = [*self._segment_parts, self._tail]
        return self._parts

    # -- changes -------------------------------------------------------------------------------

    def add(self, refs: Iterable[Reference], workers: int = 1) -> None:
        """Prepare ``refs`` here, log them (all or none), and see them."""
        records: list[Record] = list(prepared(refs, self.bands, self.rows, workers,
                                              finish=Record.of))
        self.add_records(records)

    def add_records(self, records: Sequence[Record]) -> None:
        assert self.folder.wal is not None, "a read-only index takes no additions"
        if self.shared is not None:
            self.shared.add(records)
        else:
            self.folder.wal.add(records)
        self.sync()

    def remove(self, ref_id: str) -> None:
        assert self.folder.wal is not None, "a read-only index takes no removals"
        if self.shared is not None:
            self.shared.remove(ref_id)
        else:
            self.folder.wal.delete(ref_id)
        self.sync()

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts())

    def __contains__(self, ref_id: str) -> bool:
        return self.slot_of(ref_id) is not None

    def slot_of(self, ref_id: str) -> int | None:
        if self.folder.wal is not None:
            seq = self.folder.wal.seq_of(ref_id)
            return None if seq is None else self.slot_base + seq
        for part in self.parts():
            slot = part.slot_of(ref_id)
            if slot is not None:
                return slot
        return None

    def get(self, ref_id: str) -> Reference:
        slot = self.slot_of(ref_id)
        part = next((p for p in self.parts() if slot is not None
                     and p.first_slot <= slot < p.end_slot and p.alive(slot)), None)
        if slot is None or part is None:
            raise ReferenceNotFoundError(f"no reference with id '{ref_id}'")
        return part.ref(slot)

    def count(self) -> int:
        return self.folder.wal.count() if self.folder.wal is not None else len(self)

    def page(self, offset: int, limit: int, search: str | None = None) -> list[Summary]:
        assert self.folder.wal is not None
        return self.folder.wal.page(offset, limit, search)
