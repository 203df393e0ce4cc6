"""Formulas (规定表述, 套话): passages a report holds because every report does.

The guiding-ideology sentence, the year's targets with this year's numbers, the thanks that end
a government work report: they are not copied from one source, they recur near-identically
(numbers and placeholders folded, a word or two changed) in many references. A copy is held by
its source and by the few reports that copied it; a formula by a good share of the corpus.

A query unit's *holders* are the references that align with (nearly) all of it about as closely
as the closest one does (HOLD_*); a normalised character's count is the larger of its unit's holders
and the documents sharing it verbatim (seeds.shared_counts, which also sees windows too common
to list). Characters held by at least FormulaRule.needed references are formula characters; a
passage that is nothing but them (and stock phrases) is a formula, while a copied passage that
merely contains one stays a copy (scoring decides, as for stock phrases).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .align import AlignParams, Passage, Segment, align_unit
from .document import Document
from .index import Index, UnitPlaces

# Reference units per query unit tried as holders (the strongest LSH places): a formula needs
# at most this many holders to be named by alignment; beyond it, by its verbatim count alone.
FORMULA_PLACES = 24
# A holder's version of a unit covers HOLD_COVERAGE of it and differs from the unit at most
# HOLD_RATIO times as much as the closest reference's version does, give or take HOLD_SLACK, and
# is never less than HOLD_SIMILARITY alike (characters in common over both lengths): a verbatim
# copy of one report is a formula only if others hold it nearly verbatim too, a sentence every
# report words its own way when they all do.
HOLD_COVERAGE = 0.5
HOLD_RATIO = 3.0
HOLD_SLACK = 0.1
HOLD_SIMILARITY = 0.6


@dataclass(frozen=True)
class FormulaRule:
    """A passage is a formula when at least ``share`` of the references, and at least
    ``min_refs`` of them, hold it near-identically."""

    share: float = 0.2
    min_refs: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"formula_share must be in (0, 1], not {self.share}")
        if self.min_refs < 2:
            raise ValueError(f"formula_min_refs must be at least 2, not {self.min_refs}")

    def needed(self, corpus_size: int) -> int:
        """Holders that make a formula in a corpus of ``corpus_size`` references."""
        return max(self.min_refs, math.ceil(self.share * corpus_size - 1e-9))


def _holders(sims: list[float]) -> int:
    """How many of the references with these similarities hold the unit."""
    if not sims:
        return 0
    best = max(sims)
    floor = max(HOLD_SIMILARITY, 1 - HOLD_RATIO * (1 - best) - HOLD_SLACK)
    return sum(1 for sim in sims if sim >= floor)


def _similarity(seg: Segment | None, unit_len: int) -> float | None:
    """The similarity of an alignment that holds enough of the unit, else None (clauses of
    one long sentence are cut at different commas in different reports, so a holder's
    alignment may leave the unit's edges out)."""
    if seg is None or seg.q_len < HOLD_COVERAGE * unit_len:
        return None
    return seg.similarity


def passage_units(query: Document, passages: Iterable[Passage]) -> list[int]:
    """Numbers of the query units that reported passages touch, in order."""
    starts = np.array([u.start for u in query.units], dtype=np.int64)
    ends = np.array([u.end for u in query.units], dtype=np.int64)
    touched = np.zeros(len(query.units), dtype=bool)
    for p in passages:
        lo = int(np.searchsorted(ends, p.q_start, side="right"))
        hi = int(np.searchsorted(starts, p.q_end, side="left"))
        touched[lo:hi] = True
    return np.flatnonzero(touched).tolist()


def unit_similarities(query: Document, units: list[int], places: list[UnitPlaces],
                      found: dict[tuple[int, int], Segment], index: Index, params: AlignParams,
                      ignore: frozenset[str] = frozenset()) -> dict[int, dict[int, float]]:
    """For each of ``units``, the references that hold (nearly) all of it and how closely:
    from the alignments already made (``found``, keyed by (unit, doc)) and from the unit's LSH
    places, each aligned once per reference; references with an id in ``ignore`` are left out."""
    by_unit: dict[int, dict[int, Segment]] = {}
    for (unit_no, doc), seg in found.items():
        by_unit.setdefault(unit_no, {})[doc] = seg
    wanted = {d for u in units for d in places[u].docs.tolist()} - {d for _, d in found}
    index.prefetch(wanted)
    out: dict[int, dict[int, float]] = {}
    for u in units:
        unit = query.units[u]
        aligned = by_unit.get(u, {})
        sims = {doc: _similarity(seg, len(unit)) for doc, seg in aligned.items()}
        found_places = places[u]
        for doc, start, end in zip(found_places.docs.tolist(), found_places.starts.tolist(),
                                   found_places.ends.tolist(), strict=True):
            if doc in sims or not index.alive(doc):
                continue
            chars = index.chars(doc)
            margin = len(unit) // 2 + 8
            sims[doc] = _similarity(
                align_unit(query.norm.chars, unit.start, unit.end, chars, max(0, start - margin),
                           min(len(chars), end + margin), doc, params), len(unit))
        out[u] = {doc: sim for doc, sim in sims.items()
                  if sim is not None and not (ignore and index.ref(doc).id in ignore)}
    return out


def formula_counts(query: Document, passages: list[Passage],
                   similarities: dict[int, dict[int, float]], verbatim: np.ndarray) -> np.ndarray:
    """Per normalised character, how many references hold it: the most of the documents
    sharing it verbatim, the holders of its unit, and the holders of its passage as a whole
    (each reference's similarity over the passage's units, weighted by their lengths)."""
    counts = verbatim.copy()
    for u, sims in similarities.items():
        unit = query.units[u]
        counts[unit.start : unit.end] = np.maximum(counts[unit.start : unit.end],
                                                   _holders(list(sims.values())))
    for p in passages:
        units = [u for u in passage_units(query, [p]) if u in similarities]
        weight = sum(len(query.units[u]) for u in units)
        if not weight:
            continue
        over: dict[int, float] = {}
        for u in units:
            for doc, sim in similarities[u].items():
                over[doc] = over.get(doc, 0.0) + sim * len(query.units[u]) / weight
        held = _holders(list(over.values()))
        counts[p.q_start : p.q_end] = np.maximum(counts[p.q_start : p.q_end], held)
    return counts
