"""Which segments to merge, and merging them into one with bounded memory.

The policy is tiered, as Lucene's: a segment's tier is the power of ``factor`` its live
documents reach above ``floor_docs``; when ``factor`` neighbouring segments share a tier they
are merged into one of the next, so an index of n documents holds at most ``factor - 1``
segments a tier, about log(n) in all, and every document is rewritten about log(n) times.
Only neighbours are merged, so segments stay in the order references were added (which is how
ties between sources are broken). A segment whose removed share reaches ``reclaim_share``, or
whose removals are older than ``expunge_seconds``, is rewritten without them, so removed texts
leave the disk. A merged segment stays below the 2**24 units a posting can name.

A check looks every key up in every segment, and a report shares most keys with every segment
(officialese is everywhere): an index of seven segments checks a third slower than the same
references in one. So once nothing has been added or removed for ``quiet_seconds`` (a night, a
pause between batches), neighbours are merged down to ``quiet_segments``, each such merge
rewriting at most ``quiet_share`` of the live documents: the newest segments, which are the
small ones, fold into one, and a merge that would rewrite more is left to the tiers.

A merge reads its segments' documents one by one and their tables a key range at a time (a few
million entries), renumbers them, drops what was removed and writes the new segment in one
pass: its memory does not grow with the segments' size.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.corpus import Reference

from .manifest import SegmentEntry
from .runs import POSTING_MASK
from .segment import MAX_UNITS, Segment, SegmentWriter

CHUNK_WORDS = 1 << 22  # table entries a merge holds at once (about 50 MB)
DOC_BATCH = 512


@dataclass(frozen=True)
class MergePolicy:
    floor_docs: int = 1000
    factor: int = 4
    max_units: int = MAX_UNITS
    reclaim_share: float = 0.1
    expunge_seconds: float = 24 * 3600.0
    max_segments: int = 8
    quiet_seconds: float = 300.0  # 0: no merges for quiet alone
    quiet_segments: int = 2
    quiet_share: float = 0.5

    def tier(self, entry: SegmentEntry) -> int:
        return int(math.log(max(entry.live, self.floor_docs) / self.floor_docs, self.factor))

    def tiers(self, segments: Sequence[SegmentEntry]) -> list[int]:
        """Each segment's tier, a run of fewer than ``factor`` lower ones enclosed by higher
        neighbours lifted to the lower of those neighbours' tiers."""
        tiers = [self.tier(s) for s in segments]
        changed = True
        while changed:
            changed = False
            a = 0
            while a < len(tiers):
                b = a
                while b < len(tiers) and tiers[b] == tiers[a]:
                    b += 1
                if a > 0 and b < len(tiers) and b - a < self.factor:
                    around = min(tiers[a - 1], tiers[b])
                    if around > tiers[a]:
                        tiers[a:b] = [around] * (b - a)
                        changed = True
                a = b
        return tiers

    def select(self, segments: Sequence[SegmentEntry], now: float | None = None,
               quiet_for: float = 0.0) -> tuple[int, int] | None:
        """[start, end) of the neighbouring segments to merge next, or None. The lowest full
        tier first; then the smallest neighbours while there are more than ``max_segments``;
        then a segment to rewrite for its removals; then, when the index has had no change
        for ``quiet_for`` seconds, at least ``quiet_seconds``, the merge toward
        ``quiet_segments``."""
        now = time.time() if now is None else now
        tiers = self.tiers(segments)
        best: tuple[int, int] | None = None
        for start in range(len(segments) - self.factor + 1):
            end = start + self.factor
            if len(set(tiers[start:end])) == 1 and self._fits(segments[start:end]) \
                    and (best is None or tiers[start] < tiers[best[0]]):
                best = (start, end)
        if best is None and len(segments) > self.max_segments:
            best = self._smallest_neighbours(segments)
        if best is not None:
            return best
        for i, entry in enumerate(segments):
            if entry.deleted and (entry.deleted >= self.reclaim_share * entry.docs or
                                  now - (entry.deleted_since or now) >= self.expunge_seconds):
                return i, i + 1
        if self.quiet_seconds and quiet_for >= self.quiet_seconds:
            return self._quiet_window(segments)
        return None

    def _quiet_window(self, segments: Sequence[SegmentEntry]) -> tuple[int, int] | None:
        """The neighbours whose merge leaves the fewest segments (down to ``quiet_segments``)
        within the share of live documents a quiet merge may rewrite; of those, the fewest
        documents."""
        budget = self.quiet_share * sum(s.live for s in segments)
        for width in range(len(segments) - self.quiet_segments + 1, 1, -1):
            live = {a: sum(s.live for s in segments[a : a + width])
                    for a in range(len(segments) - width + 1)
                    if self._fits(segments[a : a + width])}
            starts = [a for a, docs in live.items() if docs <= budget]
            if starts:
                start = min(starts, key=live.__getitem__)
                return start, start + width
        return None

    def _fits(self, window: Sequence[SegmentEntry]) -> bool:
        return sum(s.units for s in window) <= self.max_units

    def _smallest_neighbours(self, segments: Sequence[SegmentEntry]) -> tuple[int, int] | None:
        width = min(self.factor, len(segments))
        fitting = [start for start in range(len(segments) - width + 1)
                   if self._fits(segments[start : start + width])]
        if not fitting:
            return None
        start = min(fitting, key=lambda a: sum(s.live for s in segments[a : a + width]))
        return start, start + width


def merge_segments(inputs: Sequence[tuple[Segment, np.ndarray | None]], folder: Path,
                   bands: int) -> tuple[dict, list[np.ndarray]]:
    """Write the live documents of ``inputs`` (each a segment and its removal marks, in
    sequence order) as one segment into the empty ``folder``; returns its header and, per
    input, the new number of each old document (-1 where removed)."""
    writer = SegmentWriter(folder, bands)
    try:
        doc_maps, unit_maps = [], []
        for segment, dead in inputs:
            live = np.flatnonzero(~dead) if dead is not None else np.arange(segment.docs)
            doc_map = np.full(segment.docs, -1, np.int64)
            unit_map = np.full(segment.units, -1, np.int32)  # units < 2**24: half the memory
            for a in range(0, len(live), DOC_BATCH):
                for number, doc_id, title, source, tags in segment.rows(
                        live[a : a + DOC_BATCH].tolist()):
                    first, last = int(segment.first_unit[number]), \
                        int(segment.first_unit[number + 1])
                    doc_map[number] = writer.docs
                    unit_map[first:last] = np.arange(writer.units,
                                                     writer.units + last - first)
                    writer.add_doc(int(segment.seq[number]),
                                   Reference(doc_id, "", title, source, _tags(tags)),
                                   segment.text_z(number), segment.chars_bytes(number),
                                   segment.unit_start[first:last], segment.unit_end[first:last])
            doc_maps.append(doc_map)
            unit_maps.append(unit_map)
        _merge_table(writer, "band", [s for s, _ in inputs], unit_maps)
        _merge_table(writer, "seed", [s for s, _ in inputs], doc_maps)
        return writer.finish(), doc_maps
    except BaseException:
        writer.abort()
        raise


def _tags(raw: str) -> dict[str, str]:
    return dict(json.loads(raw))


def _merge_table(writer: SegmentWriter, name: str, segments: list[Segment],
                 maps: list[np.ndarray]) -> None:
    """A table of every input, renumbered through ``maps``, a key range at a time."""
    total = sum(len(s.runs[name]) for s in segments)
    out = writer.stream(name, max(total, 1))
    chunks = max(1, -(-total // CHUNK_WORDS))
    step = -(-(1 << 64) // chunks)
    step += -step % (1 << 24)  # ranges split between keys, never inside one
    for c in range(chunks):
        lo, hi = c * step, min((c + 1) * step, 1 << 64)
        words, columns = [], []
        for segment, mapping in zip(segments, maps, strict=True):
            got, cols = segment.runs[name].scan(lo, hi)
            renumbered = mapping[(got & POSTING_MASK).astype(np.int64)]
            kept = renumbered >= 0
            words.append((got[kept] & ~POSTING_MASK) | renumbered[kept].astype(np.uint64))
            columns.append([col[kept] for col in cols])
        merged = np.concatenate(words)
        cols = [np.concatenate([c[k] for c in columns]) for k in range(out.columns)]
        if not cols:
            out.add(np.sort(merged))
            continue
        # a window repeated in one document keeps its positions' order
        order = np.argsort(merged, kind="stable")
        out.add(merged[order], [col[order].astype(np.uint64) for col in cols])
