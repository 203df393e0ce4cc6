"""Lockstep: a copied passage's neighbours, taken in where the source goes on in step.

A heavily disguised copy keeps its sentences in place: between two aligned parts of one source,
the query and the source skip about as many characters; before a copied passage the query's
heading stands where the source's heading stands. Such a stretch may have too few characters in
common to be found on its own (a short heading with half its words swapped), but a stretch of
the same length, in the same place, sharing LOCKSTEP_MIN of its characters in order with the
source is part of the copy. Nothing is taken in on this evidence alone: a gap only between two
passages that convinced, an edge only of a passage of disguised whole sentences (a verbatim run
of officialese is no reason to take in the different sentence beside it).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from rapidfuzz.distance import LCSseq

from .align import Passage, Segment, local_alignment
from .document import Document
from .index import Index

LOCKSTEP_MIN = 0.45  # characters in common, in order, over the stretch's length
LOCKSTEP_KEPT = 0.8  # ... and counting swapped words as kept (align.local_alignment)
LOCKSTEP_MAX = 90  # the longest stretch taken in at once (a sentence unit at most)
GAP_MAX = 160  # the longest gap between two passages of one source filled
SLACK = 0.2  # the source's stretch may be this much longer or shorter
EDGE_WORD = 4  # a stretch this short to the sentence's edge is a swapped word: taken in whole


def _anchored(p: Passage) -> bool:
    """Is the passage a disguised copy of whole sentences (its edges may grow)?"""
    return any(seg.strong and not run for seg, run in p.parts)


def _in_step(q: str, r: str) -> int | None:
    """Characters q and r share in step, when their lengths agree within SLACK, at least
    LOCKSTEP_MIN of q is common and, counting swapped words as kept, LOCKSTEP_KEPT of it is
    there (common characters scattered over a different sentence are not); else None."""
    if not q or abs(len(r) - len(q)) > max(2, SLACK * len(q)):
        return None
    if LCSseq.similarity(q, r) < LOCKSTEP_MIN * len(q):
        return None
    found = local_alignment(q, r)
    if found is None or found.matched < LOCKSTEP_MIN * len(q):
        return None
    edges = found.q0 + len(q) - found.q1  # a swapped word at either end
    kept = found.matched + found.swapped + min(edges, 2 * EDGE_WORD)
    return found.matched if kept >= LOCKSTEP_KEPT * len(q) else None


class _Units:
    """The query's units, found by position with a bisection."""

    def __init__(self, query: Document) -> None:
        self.units = query.units
        self.starts = [u.start for u in query.units]

    def around(self, pos: int) -> int | None:
        """The unit holding normalised position ``pos``."""
        i = bisect_right(self.starts, pos) - 1
        return i if i >= 0 and pos < self.units[i].end else None

    def before(self, pos: int) -> int | None:
        """The last unit ending at or before ``pos``."""
        i = bisect_right(self.starts, pos) - 1
        while i >= 0 and self.units[i].end > pos:
            i -= 1
        return i if i >= 0 else None

    def after(self, pos: int) -> int | None:
        """The first unit starting at or after ``pos``."""
        i = bisect_left(self.starts, pos)
        return i if i < len(self.units) else None


def _edge_parts(p: Passage) -> tuple[Segment, Segment]:
    segs = [seg for seg, _ in p.parts]
    return (min(segs, key=lambda s: (s.q_start, s.s_start)),
            max(segs, key=lambda s: (s.q_end, s.s_end)))


def _best_step(q: str, ref: str, at: int, n: int, backwards: bool) -> tuple[int, int] | None:
    """(common characters, source length) of the source stretch ending (backwards) or starting
    at ``at`` that is most in step with q, trying lengths within SLACK of n."""
    best = None
    for m in range(max(1, round(n * (1 - SLACK))), round(n * (1 + SLACK)) + 1):
        if (at - m < 0) if backwards else (at + m > len(ref)):
            break
        common = _in_step(q, ref[at - m : at] if backwards else ref[at : at + m])
        if common is not None and (best is None or common > best[0]):
            best = (common, m)
    return best


def _back(query: Document, units: _Units, p: Passage, ref: str) -> Segment | None:
    """The stretch before the passage to the start of its unit (or, when the passage starts a
    unit, the whole unit before it, in the same or the previous paragraph), if in step."""
    first, _ = _edge_parts(p)
    q1, s1 = p.q_start, first.s_start
    i = units.around(q1)
    if i is not None and units.units[i].start < q1:
        q0 = units.units[i].start
    else:
        k = units.before(q1)
        if k is None:
            return None
        here = units.units[i].paragraph if i is not None else units.units[k].paragraph
        if q1 - units.units[k].end > 2 or units.units[k].paragraph < here - 1:
            return None
        q0 = units.units[k].start
    n = q1 - q0
    if n > LOCKSTEP_MAX or s1 - n < 0:
        return None
    if n <= EDGE_WORD and i is not None and units.units[i].start == q0:
        return Segment(p.doc, q0, q1, s1 - n, s1, 0, False)
    best = _best_step(query.norm.chars[q0:q1], ref, s1, n, backwards=True)
    return None if best is None else Segment(p.doc, q0, q1, s1 - best[1], s1, best[0], False)


def _forward(query: Document, units: _Units, p: Passage, ref: str) -> Segment | None:
    """The stretch after the passage to the end of its unit (or the whole unit after it, in the
    same or the next paragraph), if in step."""
    _, last = _edge_parts(p)
    q0, s0 = p.q_end, last.s_end
    i = units.around(q0 - 1)
    if i is not None and units.units[i].end > q0:
        q1 = units.units[i].end
    else:
        k = units.after(q0)
        if k is None:
            return None
        here = units.units[i].paragraph if i is not None else units.units[k].paragraph
        if units.units[k].start - q0 > 2 or units.units[k].paragraph > here + 1:
            return None
        q1 = units.units[k].end
    n = q1 - q0
    if n > LOCKSTEP_MAX or s0 + n > len(ref):
        return None
    if n <= EDGE_WORD and i is not None and units.units[i].end == q1:
        return Segment(p.doc, q0, q1, s0, s0 + n, 0, False)
    best = _best_step(query.norm.chars[q0:q1], ref, s0, n, backwards=False)
    return None if best is None else Segment(p.doc, q0, q1, s0, s0 + best[1], best[0], False)


def _gap(query: Document, a: Passage, b: Passage, ref: str) -> Segment | None:
    """The stretch between two passages of one source, if the source skips about as much
    between them and it is in step."""
    _, last = _edge_parts(a)
    first, _ = _edge_parts(b)
    q0, q1, s0, s1 = a.q_end, b.q_start, last.s_end, first.s_start
    if not 0 < q1 - q0 <= GAP_MAX or s1 <= s0:
        return None
    common = _in_step(query.norm.chars[q0:q1], ref[s0:s1])
    return None if common is None else Segment(a.doc, q0, q1, s0, s1, common, False)


def in_step(query: Document, passages: list[Passage], index: Index) -> list[Passage]:
    """Passages with the gaps between passages of one source filled and their edges grown, where
    the source goes on in step (see the module's docstring)."""
    units = _Units(query)
    taken = _Taken(passages)
    by_doc: dict[int, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc, []).append(p)
    out: list[Passage] = []
    for doc, group in by_doc.items():
        ref = index.chars(doc)
        group.sort(key=lambda p: p.q_start)
        merged: list[Passage] = []
        for p in group:
            prev = merged[-1] if merged else None
            fill = _gap(query, prev, p, ref) if prev is not None else None
            if prev is not None and fill is not None and not taken.elsewhere(fill):
                prev.absorb(fill, False)
                for seg, run in p.parts:
                    prev.absorb(seg, run)
            else:
                merged.append(p)
        for p in merged:
            if not _anchored(p):
                continue
            for step in (_back, _forward):
                for _ in range(3):  # a heading, a sentence, the heading's number
                    grown = step(query, units, p, ref)
                    if grown is None or taken.elsewhere(grown):
                        break
                    p.absorb(grown, False)
        out.extend(merged)
    return out


class _Taken:
    """What each source's passages found, so that a stretch another source explains is left
    to it (a patchwork's next sentence from another template is not this one's)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.ranges = sorted((p.q_start, p.q_end, p.doc) for p in passages)

    def elsewhere(self, seg: Segment) -> bool:
        """Does another source's passage cover half of the stretch or more?"""
        covered = 0
        for start, end, doc in self.ranges:
            if start >= seg.q_end:
                break
            if doc != seg.doc:
                covered += max(0, min(end, seg.q_end) - max(start, seg.q_start))
        return 2 * covered >= seg.q_len
