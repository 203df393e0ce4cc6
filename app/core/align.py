"""Verification and alignment: from candidate (query unit, reference region) pairs to passages.

LSH and seeds only propose; nothing is reported before an exact alignment agrees. A query unit is
aligned to a reference region by longest common subsequence (rapidfuzz), and the matching blocks
are cut into dense local clusters, so a changed word, a filled placeholder or a deleted clause
leaves one cluster while scattered common characters of unrelated officialese do not form one.
Aligned units of one source that sit close together in both texts are joined into one passage,
so one copied passage (even with its sentences reordered) is one highlight.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from itertools import pairwise

import numpy as np
from rapidfuzz.distance import LCSseq

# A cluster of matching blocks breaks where either text skips more than this many characters
# while the other skips more than SMALL_GAP (a replaced phrase), or where one skips more than
# LARGE_GAP (a deleted or inserted clause).
SMALL_GAP = 8
LARGE_GAP = 30
STRONG_MIN_CHARS = 13  # the shortest verbatim run reported on its own (seeds.MIN_RUN)
REORDER_REACH = 2  # reordered sentences of one passage come from a stretch this many times as long
SWAP_MAX = 12  # a replaced stretch this short, of about equal length on both sides, is a swap


@dataclass(frozen=True)
class Segment:
    """Query normalised [q_start, q_end) aligned to doc's normalised [s_start, s_end)."""

    doc: int
    q_start: int
    q_end: int
    s_start: int
    s_end: int
    matched: int  # characters the alignment pairs up
    strong: bool = True  # whole sentence, changed word by word (see align_unit)
    swapped: int = 0  # query characters in word-sized swaps between matched ones

    @property
    def q_len(self) -> int:
        return self.q_end - self.q_start

    @property
    def s_len(self) -> int:
        return self.s_end - self.s_start

    @property
    def similarity(self) -> float:
        return 2 * self.matched / (self.q_len + self.s_len) if self.q_len + self.s_len else 0.0


@dataclass(frozen=True)
class AlignParams:
    min_matched: int = 10  # a fuzzy unit match pairs at least this many characters
    min_query_density: float = 0.55  # matched / aligned query length
    min_source_density: float = 0.4  # matched / aligned source length (a deleted clause lowers it)
    min_unit_coverage: float = 0.5  # the aligned part covers this share of the query unit
    # A "strong" unit reads as its source changed word by word: counting word-sized swaps as
    # kept, it is nearly all there, and it covers (nearly) the whole sentence.
    strong_swap_density: float = 0.9
    strong_density: float = 0.65
    strong_coverage: float = 0.85
    # A single sentence with no other evidence around it must also be this similar overall,
    # or this long and, counting its swapped words as kept, nearly all there.
    single_unit_similarity: float = 0.8
    single_unit_kept: float = 0.95
    single_unit_chars: int = 20
    # Any passage with fuzzy parts: matched and swapped characters over the mean length of both
    # sides (reordered or scattered source parts make the source side long).
    min_passage_similarity: float = 0.8


@dataclass(frozen=True)
class Alignment:
    """A dense cluster of matching blocks, and how much of what lies between them is swaps."""

    q0: int
    q1: int
    r0: int
    r1: int
    matched: int
    swapped: int  # query characters in word-sized swaps (about the same length on both sides)


def _balanced(gap_q: int, gap_r: int) -> bool:
    """A stretch replaced on both sides by about as much: words swapped, not a phrase added,
    dropped or rewritten at another length."""
    longer = max(gap_q, gap_r)
    return (min(gap_q, gap_r) > 0 and longer <= SWAP_MAX
            and abs(gap_q - gap_r) <= max(1, longer // 5))


def _alignment(cluster: list) -> Alignment:
    """The cluster's extent and matched characters, and its swaps: what lies between two
    blocks of two or more characters, when balanced (a lone common character inside a swapped
    word is chance, not a reason to see two unequal gaps)."""
    swapped = 0
    anchors = [b for b in cluster if b.size >= 2]
    inner = 0  # single characters matched between the current pair of anchors
    j = 0
    for prev, b in pairwise(anchors):
        while cluster[j] is not prev:
            j += 1
        inner = sum(x.size for x in cluster[j + 1 :] if x.a < b.a)
        gap_q = b.a - (prev.a + prev.size)
        gap_r = b.b - (prev.b + prev.size)
        if _balanced(gap_q, gap_r):
            swapped += gap_q - inner
    first, last = cluster[0], cluster[-1]
    return Alignment(first.a, last.a + last.size, first.b, last.b + last.size,
                     sum(b.size for b in cluster), swapped)


def local_alignment(q: str, r: str) -> Alignment | None:
    """Densest cluster of LCS matching blocks of q inside r, or None."""
    blocks = [b for b in LCSseq.editops(q, r).as_matching_blocks() if b.size]
    best: Alignment | None = None
    cluster: list = []

    def close() -> None:
        nonlocal best
        while cluster and cluster[0].size < 2:  # a lone common character does not anchor
            cluster.pop(0)
        while cluster and cluster[-1].size < 2:
            cluster.pop()
        if cluster:
            found = _alignment(cluster)
            if best is None or found.matched > best.matched:
                best = found

    for b in blocks:
        if cluster:
            prev = cluster[-1]
            gap_q = b.a - (prev.a + prev.size)
            gap_r = b.b - (prev.b + prev.size)
            if max(gap_q, gap_r) > LARGE_GAP or (min(gap_q, gap_r) > SMALL_GAP
                                                 and not _balanced(gap_q, gap_r)):
                close()
                cluster = []
        cluster.append(b)
    close()
    return best


EDGE_SWAPS = 2  # single-character swaps an alignment may step over when it grows at its ends


def _grow(q: str, r: str, a: Alignment) -> Alignment:
    """Grow an alignment over equal characters at both ends, stepping over up to EDGE_SWAPS
    single-character swaps that are followed by a match (市直 for 区直, at a sentence start).

    LCS may pair a leading character with an earlier copy of it in the region, which splits the
    first block into single characters that the cluster then drops; this takes them back."""
    q0, r0, matched, swaps = a.q0, a.r0, a.matched, 0
    while q0 > 0 and r0 > 0:
        if q[q0 - 1] == r[r0 - 1]:
            q0, r0, matched = q0 - 1, r0 - 1, matched + 1
        elif swaps < EDGE_SWAPS and q0 > 1 and r0 > 1 and q[q0 - 2] == r[r0 - 2]:
            q0, r0, matched, swaps = q0 - 2, r0 - 2, matched + 1, swaps + 1
        else:
            break
    q1, r1, swaps = a.q1, a.r1, 0
    while q1 < len(q) and r1 < len(r):
        if q[q1] == r[r1]:
            q1, r1, matched = q1 + 1, r1 + 1, matched + 1
        elif swaps < EDGE_SWAPS and q1 + 1 < len(q) and r1 + 1 < len(r) and q[q1 + 1] == r[r1 + 1]:
            q1, r1, matched, swaps = q1 + 2, r1 + 2, matched + 1, swaps + 1
        else:
            break
    return replace(a, q0=q0, q1=q1, r0=r0, r1=r1, matched=matched)


def align_unit(query: str, q_start: int, q_end: int, ref: str, r_start: int, r_end: int,
               doc: int, params: AlignParams) -> Segment | None:
    """Align query[q_start:q_end] inside ref[r_start:r_end]; a Segment if it passes."""
    q = query[q_start:q_end]
    region = ref[r_start:r_end]
    # An alignment pairs no more characters than the whole LCS, so a candidate whose LCS length
    # (bit-parallel, far cheaper than the blocks) is below what passing needs cannot pass.
    needed = max(params.min_matched,
                 int(params.min_query_density * params.min_unit_coverage * len(q)))
    if LCSseq.similarity(q, region, score_cutoff=needed) < needed:
        return None
    found = local_alignment(q, region)
    if found is None:
        return None
    a = _grow(q, region, found)
    q_len, r_len = a.q1 - a.q0, a.r1 - a.r0
    if (a.matched < params.min_matched
            or a.matched < params.min_query_density * q_len
            or a.matched < params.min_source_density * r_len
            or q_len < params.min_unit_coverage * len(q)):
        return None
    # Disguised copies keep the sentence whole and change it word by word; sentences that only
    # share officialese differ by whole phrases inserted, dropped or rewritten.
    strong = (a.matched + a.swapped >= params.strong_swap_density * q_len
              and a.matched >= params.strong_density * q_len
              and q_len >= params.strong_coverage * len(q))
    return Segment(doc, q_start + a.q0, q_start + a.q1, r_start + a.r0, r_start + a.r1,
                   a.matched, strong, a.swapped)


@dataclass
class Passage:
    """Segments of one source joined into one highlight."""

    doc: int
    q_start: int
    q_end: int
    s_start: int
    s_end: int
    matched: int
    parts: list[tuple[Segment, bool]]  # (segment, is a verbatim run)
    _by_start: list[tuple[Segment, bool]] | None = field(default=None, repr=False)
    _starts: list[int] = field(default_factory=list, repr=False)
    _longest: int = 0

    @classmethod
    def of(cls, seg: Segment, exact: bool = False) -> Passage:
        return cls(seg.doc, seg.q_start, seg.q_end, seg.s_start, seg.s_end, seg.matched,
                   [(seg, exact)])

    def absorb(self, seg: Segment, exact: bool) -> None:
        self.matched += _new_overlap_free(self, seg)
        self.q_start = min(self.q_start, seg.q_start)
        self.q_end = max(self.q_end, seg.q_end)
        self.s_start = min(self.s_start, seg.s_start)
        self.s_end = max(self.s_end, seg.s_end)
        self.parts.append((seg, exact))

    @property
    def seeds_only(self) -> bool:
        """Made only of verbatim runs found by the seed table (no sentence alignment)."""
        return all(run for _, run in self.parts)

    @property
    def density(self) -> float:
        return self.matched / max(self.q_end - self.q_start, 1)

    @property
    def similarity(self) -> float:
        return 2 * self.matched / max(self.q_end - self.q_start + self.s_end - self.s_start, 1)

    def reordered_similarity(self) -> float:
        """Similarity with the source side counted as the union of the parts' source ranges
        (what was taken), so reordered sentences do not lengthen it by what lies between."""
        union = 0
        reach = -1
        for start, end in sorted((seg.s_start, seg.s_end) for seg, _ in self.parts):
            if end > reach:
                union += end - max(start, reach)
                reach = end
        return 2 * self.matched / max(self.q_end - self.q_start + union, 1)

    def convincing(self, params: AlignParams) -> bool:
        """Is this passage evidence of copying, beyond shared officialese?"""
        if self.seeds_only:
            return True
        units = [seg for seg, exact in self.parts if not exact]
        # a strong unit shorter than a verbatim run proves nothing: it is a phrase
        strong = sum(seg.strong and seg.q_len >= STRONG_MIN_CHARS for seg in units)
        if 3 * strong < len(units) or not strong:
            return False
        swapped = sum(seg.swapped for seg, _ in self.parts)
        # sentences each copied word by word may come in another order from nearby: their
        # source is then the places they come from, not the stretch between first and last
        similarity = self.reordered_similarity() if (
            3 * strong >= 2 * len(units)
            and self.s_end - self.s_start <= REORDER_REACH * (self.q_end - self.q_start)) \
            else self.similarity
        kept = similarity * (1 + swapped / max(self.matched, 1))  # swaps counted as kept
        if kept < params.min_passage_similarity:
            return False
        return (len(self.parts) >= 2 or self.similarity >= params.single_unit_similarity
                or (kept >= params.single_unit_kept
                    and self.q_end - self.q_start >= params.single_unit_chars))

    def verbatim_only(self) -> list[tuple[Segment, bool]]:
        return [(seg, True) for seg, exact in self.parts if exact]

    def tiling(self, q0: int, q1: int) -> list[tuple[Segment, bool, int, int]]:
        """Which part explains which characters of query range [q0, q1), none twice:
        (part, is a run, start, end). The largest overlaps go first (verbatim runs first among
        equals); later parts keep only what is still unexplained, so the same text found again
        elsewhere in the source adds nothing, while a part that reaches further (a sentence
        aligned from its filled-in first word) adds its extra reach."""
        def overlap(item: tuple[Segment, bool]) -> tuple[int, bool]:
            seg, run = item
            return min(q1, seg.q_end) - max(q0, seg.q_start), run

        tiles: list[tuple[Segment, bool, int, int]] = []
        explained = Coverage()
        for seg, run in sorted(self._parts_over(q0, q1), key=overlap, reverse=True):
            a, b = max(q0, seg.q_start), min(q1, seg.q_end)
            for x, y in explained.free(a, b):
                tiles.append((seg, run, x, y))
                explained.take(x, y)
        return tiles

    def _parts_over(self, q0: int, q1: int) -> list[tuple[Segment, bool]]:
        """The parts overlapping [q0, q1), found by bisection over the parts sorted by start
        (a passage of a report that repeats one sentence has thousands of them)."""
        if self._by_start is None or len(self._by_start) != len(self.parts):
            self._by_start = sorted(self.parts, key=lambda item: item[0].q_start)
            self._starts = [seg.q_start for seg, _ in self._by_start]
            self._longest = max(seg.q_len for seg, _ in self.parts)
        lo = bisect_left(self._starts, q0 - self._longest)
        hi = bisect_left(self._starts, q1)
        return [(seg, run) for seg, run in self._by_start[lo:hi] if seg.q_end > q0]

    def source_range(self, q0: int, q1: int) -> tuple[int, int]:
        """Source range that corresponds to query range [q0, q1), from its tiling: each part
        clipped to what it explains (character for character on a verbatim part, in proportion
        on others); reordered sentences make it the span of all of them."""
        ranges = []
        for seg, _, a, b in self.tiling(q0, q1):
            scale = seg.s_len / seg.q_len if seg.q_len else 1.0
            ranges.append((seg.s_start + round((a - seg.q_start) * scale),
                           seg.s_start + round((b - seg.q_start) * scale)))
        if not ranges:
            return self.s_start, self.s_end
        start = min(r[0] for r in ranges)
        return start, max(*(r[1] for r in ranges), start + 1)

    def exact_over(self, q0: int, q1: int) -> bool:
        """Verbatim over query range [q0, q1): every part of its tiling is."""
        return all(run or seg.matched == seg.q_len == seg.s_len
                   for seg, run, _, _ in self.tiling(q0, q1))


def _new_overlap_free(p: Passage, seg: Segment) -> int:
    """Matched characters of seg outside what the passage already covers in the query."""
    overlap = max(0, min(p.q_end, seg.q_end) - max(p.q_start, seg.q_start))
    if seg.q_len == 0:
        return 0
    return round(seg.matched * (1 - overlap / seg.q_len))


# Segments of one source join when the query gap between them is at most this many normalised
# characters and the source parts lie within SOURCE_REACH of each other (reordered sentences of
# one source passage stay within it).
QUERY_GAP = 24
SOURCE_REACH = 400
SWAP_GAP = 6


def _joins(p: Passage, seg: Segment, exact: bool) -> bool:
    gap_q = seg.q_start - p.q_end
    if gap_q > QUERY_GAP or not p.s_start - SOURCE_REACH <= seg.s_start <= p.s_end + SOURCE_REACH:
        return False
    if exact and p.seeds_only:
        # two verbatim runs with nothing aligned between them: join only across a swapped word
        # or filled placeholder, not across a different phrase of shared officialese
        gap_s = seg.s_start - p.s_end
        return gap_q <= SWAP_GAP and 0 <= gap_s <= SWAP_GAP
    return True


def join_segments(segments: list[tuple[Segment, bool]]) -> list[Passage]:
    """Join segments (with their exactness) of the same source into passages."""
    by_doc: dict[int, list[tuple[Segment, bool]]] = {}
    for seg, exact in segments:
        by_doc.setdefault(seg.doc, []).append((seg, exact))
    out: list[Passage] = []
    for items in by_doc.values():
        items.sort(key=lambda it: (it[0].q_start, -it[0].q_end))
        cur: Passage | None = None
        for seg, exact in items:
            if cur is not None and _joins(cur, seg, exact):
                cur.absorb(seg, exact)
            else:
                if cur is not None:
                    out.append(cur)
                cur = Passage.of(seg, exact)
        if cur is not None:
            out.append(cur)
    return out


def yield_weak_parts(passages: list[Passage]) -> list[Passage]:
    """Passages without their weak parts (a sentence aligned only loosely) that another source
    explains with a verbatim run or a strong sentence: in a patchwork each sentence goes to the
    source that copies it best, not to the neighbour whose passage reached over it. A passage
    that loses a part in its middle falls into the passages its other parts make."""
    solid: list[tuple[int, int, int]] = sorted(
        (seg.q_start, seg.q_end, seg.doc) for p in passages for seg, run in p.parts
        if run or seg.strong)
    starts = [q0 for q0, _, _ in solid]
    longest = max((q1 - q0 for q0, q1, _ in solid), default=0)

    def explained_elsewhere(seg: Segment) -> bool:
        covered = Coverage()
        lo = bisect_left(starts, seg.q_start - longest)
        for q0, q1, doc in solid[lo : bisect_left(starts, seg.q_end)]:
            if doc != seg.doc and q1 > seg.q_start:
                for a, b in covered.free(max(q0, seg.q_start), min(q1, seg.q_end)):
                    covered.take(a, b)
        return 2 * covered.size() >= seg.q_len

    out: list[Passage] = []
    for p in passages:
        kept = [(seg, run) for seg, run in p.parts
                if run or seg.strong or not explained_elsewhere(seg)]
        out.extend([p] if len(kept) == len(p.parts) else join_segments(kept))
    return out


# Sources whose passages cover (nearly) the same query text and pair up nearly as many
# characters are equally good explanations: a template and the later reports that copied it
# differ by a few characters at the passage's ends. The earliest-indexed of them (the original,
# not a copy of it) is credited.
TIE_MATCHED = 0.02  # share of the best passage's matched characters (at least TIE_MIN_CHARS)
TIE_MIN_CHARS = 3
TIE_OVERLAP = 0.9  # share of the best passage's query range the other must cover


def _credited_first(ranked: list[Passage], demoted: set[int]) -> list[Passage]:
    """``ranked`` reordered so that each passage is preceded by its near-ties from earlier
    sources, the earliest first."""
    n = len(ranked)
    if n < 2:
        return ranked
    matched = np.array([p.matched for p in ranked], dtype=np.float64)
    q0 = np.array([p.q_start for p in ranked])
    q1 = np.array([p.q_end for p in ranked])
    doc = np.array([p.doc for p in ranked])
    # non-decreasing along ``ranked`` (demoted last, then most matched first), so the near-ties
    # of a passage are the ones right after it
    order_key = np.where([p.doc in demoted for p in ranked], matched.max() + 1, 0.0) - matched
    used = np.zeros(n, dtype=bool)
    out: list[Passage] = []
    i = 0
    while i < n:
        if used[i]:
            i += 1
            continue
        tolerance = max(TIE_MIN_CHARS, TIE_MATCHED * matched[i])
        end = int(np.searchsorted(order_key, order_key[i] + tolerance, side="right"))
        w = slice(i + 1, end)
        overlap = np.minimum(q1[i], q1[w]) - np.maximum(q0[i], q0[w])
        tie = ~used[w] & (overlap >= TIE_OVERLAP * (q1[i] - q0[i])) & (doc[w] < doc[i])
        # the earliest source among the ties, else the passage itself
        j = i + 1 + int(np.flatnonzero(tie)[np.argmin(doc[w][tie])]) if tie.any() else i
        out.append(ranked[j])
        used[j] = True
    return out


def resolve_overlaps(passages: list[Passage], min_len: int,
                     demoted: set[int] | None = None) -> list[Passage]:
    """Give every query character to at most one source: the passage with the most matched
    characters wins (sources in ``demoted``, excluded by the reviewer, only after all others;
    among near-ties the earliest-indexed source); the others keep only their uncovered parts of
    at least ``min_len``."""
    demoted = demoted or set()
    ranked = _credited_first(sorted(passages, key=lambda p: (
        p.doc in demoted, -p.matched, -p.density, p.doc, p.q_start)), demoted)
    taken = Coverage()
    out: list[Passage] = []
    for p in ranked:
        for start, end in taken.free(p.q_start, p.q_end):
            if end - start < min_len:
                continue
            share = (end - start) / (p.q_end - p.q_start)
            s_start, s_end = p.source_range(start, end)
            piece = Passage(p.doc, start, end, s_start, s_end, round(p.matched * share),
                            p.parts)
            out.append(piece)
            taken.take(start, end)
    return sorted(out, key=lambda p: p.q_start)


class Coverage:
    """Disjoint query ranges already given away, kept sorted so that finding what is still free
    in a range costs a bisection, not a pass over everything given (long reports have thousands
    of passages)."""

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for a, b in sorted(ranges or []):
            self.take(a, b)

    def free(self, start: int, end: int) -> list[tuple[int, int]]:
        out = []
        pos = start
        i = max(bisect_right(self._starts, start) - 1, 0)
        while i < len(self._starts) and self._starts[i] < end:
            t0, t1 = self._starts[i], self._ends[i]
            if t1 > pos:
                if t0 > pos:
                    out.append((pos, min(t0, end)))
                pos = max(pos, t1)
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def size(self) -> int:
        return sum(b - a for a, b in zip(self._starts, self._ends, strict=True))

    def take(self, start: int, end: int) -> None:
        """Give away [start, end), which must be free."""
        i = bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
