"""The checking pipeline, as a list of named steps:

    normalise + segment -> fingerprint -> candidates -> verify -> extend -> join -> in step
    -> yield -> resolve -> formulas -> score
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from .align import (
    AlignParams,
    Passage,
    Segment,
    align_unit,
    join_segments,
    resolve_overlaps,
    yield_weak_parts,
)
from .document import Document, Unit, analyse
from .exclusions import Exclusions, char_reasons, original_counts, source_reason
from .fingerprint import signatures
from .formulas import FORMULA_PLACES, formula_counts, passage_units, unit_similarities
from .index import Index, UnitPlaces
from .lockstep import in_step
from .schema import CheckResult
from .scoring import Formulas, score, trim_trailing_number
from .seeds import MIN_RUN, group_hits, grow_runs, shared_counts, strongest
from .table import distinct

DEFAULT_THRESHOLD = 0.30
DEFAULT_MIN_MATCH_CHARS = 13
# A sentence of officialese can be in thousands of references: each query unit is aligned with at
# most this many of them (the strongest evidence first), so a check costs the same at any corpus
# size (5 finds the same at 100,000 references as 10, and reads half the documents). Verbatim
# runs with more documents than READ_ALL_DOCS are read only for the strongest.
SOURCES_PER_UNIT = 5
READ_ALL_DOCS = 200


@dataclass(frozen=True)
class CheckOptions:
    threshold: float = DEFAULT_THRESHOLD
    min_match_chars: int = DEFAULT_MIN_MATCH_CHARS
    align: AlignParams = field(default_factory=AlignParams)
    exclusions: Exclusions = field(default_factory=Exclusions)
    ignore: frozenset[str] = frozenset()  # reference ids not checked against at all

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.min_match_chars < MIN_RUN:
            raise ValueError(f"min_match_chars must be at least {MIN_RUN}, not "
                             f"{self.min_match_chars}")


@dataclass(frozen=True)
class Candidate:
    """Align query unit ``unit`` inside ``doc``'s normalised [r_start, r_end)."""

    unit: int
    doc: int
    r_start: int
    r_end: int


def check_text(text: str, index: Index, options: CheckOptions | None = None,
               title: str | None = None) -> CheckResult:
    options = options or CheckOptions()
    excl = options.exclusions
    query = analyse(text)
    sigs = signatures([query.unit_chars(u) for u in query.units])
    # formulas are named by alignment when few enough holders make one (see formulas.py)
    needed = excl.formulas.needed(len(index)) if excl.formulas is not None else None
    by_alignment = needed is not None and needed <= FORMULA_PLACES
    per_unit = FORMULA_PLACES if by_alignment else SOURCES_PER_UNIT
    hits, all_places = index.lookup(query.norm.chars, sigs, per_unit)  # one round trip
    places = [p.first(SOURCES_PER_UNIT) for p in all_places]  # ranked: the strongest first
    groups = group_hits(hits)
    chosen = strongest(groups, np.array([u.start for u in query.units], dtype=np.int64),
                       SOURCES_PER_UNIT)
    few = len(distinct(groups.docs)) <= READ_ALL_DOCS
    read = np.ones(len(groups), dtype=bool) if few else chosen
    texts = SourceTexts(index, {*groups.docs[read].tolist(),
                                *(d for p in places for d in p.docs.tolist())})
    unread = ~read  # counted for common phrases by their kept windows, without reading them
    read &= index.alive_many(groups.docs)
    chars_of = {d: texts(d) for d in set(groups.docs[read].tolist())}
    evidence = read if few else read & chosen
    grown = grow_runs(query.norm.chars, groups, evidence, chars_of)
    # the common-phrase count needs every document; those not read count with their kept windows
    shared = grown + grow_runs(query.norm.chars, groups, read & ~evidence, chars_of)
    runs_read = np.array([(r.doc, r.q_start, r.q_end) for r in shared], np.int64).reshape(-1, 3)
    spans = (np.concatenate([runs_read[:, 0], groups.docs[unread]]),
             np.concatenate([runs_read[:, 1], groups.q0[unread]]),
             np.concatenate([runs_read[:, 2], groups.q1[unread]]))
    runs = [Segment(r.doc, r.q_start, r.q_end, r.s_start, r.s_end, r.q_end - r.q_start)
            for r in grown if r.q_end - r.q_start >= options.min_match_chars]
    candidates = lsh_candidates(query, places, texts) + run_candidates(query, runs, texts)
    found = verify(query, candidates, texts, options.align)
    found = extend(query, found, texts, options.align)
    segments = [(seg, False) for seg in found.values()] + [(seg, True) for seg in runs]
    if options.ignore:
        segments = [(seg, run) for seg, run in segments
                    if index.ref(seg.doc).id not in options.ignore]
    by_source = {doc: reason for doc in {seg.doc for seg, _ in segments}
                 if (excl.sources or excl.own)  # else no reference is read for this
                 and (reason := source_reason(index.ref(doc), excl)) is not None}
    passages = resolve_overlaps(without_trailing_numbers(query, yield_weak_parts(in_step(
        query, convincing_passages(segments, options), index))), options.min_match_chars,
        demoted=set(by_source))
    verbatim = shared_counts(len(query.norm), *spans, hits.crowded)
    common = (verbatim >= excl.common_docs(len(index))
              if excl.common_share is not None else None)
    held = None
    if needed is not None:
        similarities = (unit_similarities(query, passage_units(query, passages), all_places,
                                          found, index, options.align, options.ignore)
                        if by_alignment else {})
        held = formula_counts(query, passages, similarities, verbatim)
    formula = held >= needed if held is not None and needed is not None else None
    return score(query, passages, index, options.threshold, options.min_match_chars, title,
                 char_reasons(query, excl, common, formula), by_source,
                 Formulas(original_counts(query, held), needed, excl.count_formulas, len(index))
                 if held is not None and needed is not None else None)


class SourceTexts:
    """The normalised texts of a check's sources, each read from the index once: a check looks
    at a source hundreds of times (its candidates, their alignments, their neighbours'). Those
    it will read are asked for together at first (in file order, and live or not in one go)."""

    def __init__(self, index: Index, first: set[int]) -> None:
        self.index = index
        self._texts = index.prefetch(first)
        self._alive = dict.fromkeys(first, False)
        self._alive.update(dict.fromkeys(self._texts, True))

    def __call__(self, doc: int) -> str:
        text = self._texts.get(doc)
        if text is None:
            text = self._texts[doc] = self.index.chars(doc)
        return text

    def alive(self, doc: int) -> bool:
        alive = self._alive.get(doc)
        if alive is None:
            alive = self._alive[doc] = self.index.alive(doc)
        return alive


def convincing_passages(segments: list[tuple[Segment, bool]],
                        options: CheckOptions) -> list[Passage]:
    """Join segments into passages; a passage that does not convince keeps its verbatim runs."""
    out = []
    for p in join_segments(segments):
        if p.convincing(options.align):
            out.append(p)
        else:
            out.extend(join_segments(p.verbatim_only()))
    return [p for p in out if p.matched >= options.min_match_chars]


def without_trailing_numbers(query: Document, passages: list[Passage]) -> list[Passage]:
    """Passages without a folded number at their end (scoring.trim_trailing_number), before
    they compete for the text: a heading's 二 that one source's passage runs on into is the
    start of the next sentence, which another source may explain."""
    for p in passages:
        p.q_end = max(trim_trailing_number(query, p.q_start, p.q_end), p.q_start + 1)
    return passages


def _region(unit_len: int, r_start: int, r_end: int, doc_len: int) -> tuple[int, int]:
    margin = unit_len // 2 + 8
    return max(0, r_start - margin), min(doc_len, r_end + margin)


def lsh_candidates(query: Document, places: list[UnitPlaces],
                   texts: SourceTexts) -> list[Candidate]:
    """Reference units sharing an LSH band with a query unit, as regions to align."""
    out = []
    for i, (unit, found) in enumerate(zip(query.units, places, strict=True)):
        for doc, start, end in zip(found.docs.tolist(), found.starts.tolist(),
                                   found.ends.tolist(), strict=True):
            if not texts.alive(doc):
                continue
            r0, r1 = _region(len(unit), start, end, len(texts(doc)))
            out.append(Candidate(i, doc, r0, r1))
    return out


def run_candidates(query: Document, runs: list[Segment],
                   texts: SourceTexts) -> list[Candidate]:
    """Units overlapping a verbatim run, to be aligned around the run's place in the source."""
    out = []
    starts = [unit.start for unit in query.units]  # units are sorted and disjoint
    for run in runs:
        first = max(bisect_right(starts, run.q_start) - 1, 0)
        for i in range(first, len(query.units)):
            unit = query.units[i]
            if unit.start >= run.q_end:
                break
            if run.q_start < unit.end:
                r0 = run.s_start - (run.q_start - unit.start)
                r1 = run.s_end + (unit.end - run.q_end)
                out.append(Candidate(i, run.doc,
                                     *_region(len(unit), r0, r1, len(texts(run.doc)))))
    return out


def _merged_regions(candidates: list[Candidate], unit_len: int) -> list[tuple[int, int]]:
    """Overlapping regions of one (unit, source) merged, up to a few unit lengths each: LSH and
    every verbatim run propose nearly the same place, and one alignment serves them all."""
    limit = 4 * unit_len + 64
    out: list[list[int]] = []
    for cand in sorted(candidates, key=lambda c: c.r_start):
        if out and cand.r_start <= out[-1][1] and max(out[-1][1], cand.r_end) - out[-1][0] <= limit:
            out[-1][1] = max(out[-1][1], cand.r_end)
        else:
            out.append([cand.r_start, cand.r_end])
    return [(a, b) for a, b in out]


def verify(query: Document, candidates: list[Candidate], texts: SourceTexts,
           params: AlignParams) -> dict[tuple[int, int], Segment]:
    """Align every candidate; keep the best alignment of each (unit, source)."""
    grouped: dict[tuple[int, int], list[Candidate]] = {}
    for cand in candidates:
        grouped.setdefault((cand.unit, cand.doc), []).append(cand)
    best: dict[tuple[int, int], Segment] = {}
    for (unit_no, doc), cands in grouped.items():
        unit = query.units[unit_no]
        for r_start, r_end in _merged_regions(cands, len(unit)):
            seg = align_unit(query.norm.chars, unit.start, unit.end, texts(doc),
                             r_start, r_end, doc, params)
            key = (unit_no, doc)
            if seg is not None and (key not in best or seg.matched > best[key].matched):
                best[key] = seg
    return best


def extend(query: Document, found: dict[tuple[int, int], Segment], texts: SourceTexts,
           params: AlignParams) -> dict[tuple[int, int], Segment]:
    """Try the neighbours of every aligned unit near the same place of the same source: a
    heavily disguised sentence next to a copied one is found even when LSH missed it."""
    found = dict(found)
    frontier = list(found)
    while frontier:
        nxt = []
        for unit_no, doc in frontier:
            seg = found[(unit_no, doc)]
            for nb in (unit_no - 1, unit_no + 1):
                if not 0 <= nb < len(query.units) or (nb, doc) in found:
                    continue
                unit: Unit = query.units[nb]
                reach = 2 * len(unit) + 40
                doc_len = len(texts(doc))
                r0, r1 = max(0, seg.s_start - reach), min(doc_len, seg.s_end + reach)
                new = align_unit(query.norm.chars, unit.start, unit.end,
                                 texts(doc), r0, r1, doc, params)
                if new is not None:
                    found[(nb, doc)] = new
                    nxt.append((nb, doc))
        frontier = nxt
    return found

