"""What kind of copy a match is: how the copied text differs from its source.

    reordered  the source's sentences in another order
    swapped    words swapped, added or dropped (synonyms, homophones, a deleted clause)
    converted  characters converted (traditional characters, full-width letters and digits)
    rewrapped  line breaks the source does not have (text pasted out of a PDF)
    filled     placeholders filled or figures changed (XX个 -> 35个, 2019 -> 2024, 十九大 -> 二十大,
               区直 -> 市直)
    verbatim   none of these: the same text (after normalising punctuation, spaces and case)

A match may be several at once (``kinds``, in this order); its ``kind`` is the first, the
disguise a reviewer most needs to know about.
"""

from __future__ import annotations

from rapidfuzz.distance import LCSseq

from .align import Passage
from .document import Document
from .normalize import NUMBER, converted_count
from .schema import CopyKind as Kind

PRECEDENCE: tuple[Kind, ...] = ("reordered", "swapped", "converted", "rewrapped", "filled")
# a template's 区直 is the writer's 市直 or 县直: the level of government is a placeholder too
LEVELS = frozenset("省市县区旗乡镇街村")
REORDER_MIN = 8  # a part this short (a phrase found again elsewhere) says nothing of order
REORDER_SLACK = 4  # source characters a later part may overlap an earlier one's start


def _numbers(doc: Document, start: int, end: int) -> list[str]:
    """The original spelling of every folded number of normalised [start, end)."""
    norm = doc.norm
    return sorted(doc.text[int(norm.starts[i]) : int(norm.ends[i])]
                  for i in range(start, end) if norm.chars[i] == NUMBER)


def _reordered(p: Passage, q0: int, q1: int) -> bool:
    """Does a later part of the passage over query [q0, q1) come wholly from before an earlier
    one in the source (parts of a few characters, and overlaps, do not count)?"""
    latest = None  # the furthest source start of the parts so far
    for seg, _, a, b in sorted(p.tiling(q0, q1), key=lambda t: t[2]):
        if b - a < REORDER_MIN:
            continue
        scale = seg.s_len / seg.q_len if seg.q_len else 1.0
        start = seg.s_start + round((a - seg.q_start) * scale)
        end = seg.s_start + round((b - seg.q_start) * scale)
        if latest is not None and end <= latest + REORDER_SLACK:
            return True
        latest = start if latest is None else max(latest, start)
    return False


def _changes(q: str, s: str) -> set[Kind]:
    """How normalised q differs from s: words in place of a placeholder (filled), other
    characters changed, added or dropped (swapped)."""
    out: set[Kind] = set()
    blocks = [b for b in LCSseq.editops(q, s).as_matching_blocks()]
    qa = sa = 0
    for block in blocks:
        gap_q, gap_s = q[qa : block.a], s[sa : block.b]
        if gap_q and gap_s and (set(gap_s) == {NUMBER} or {gap_q, gap_s} <= LEVELS):
            out.add("filled")
        elif gap_q or gap_s:
            out.add("swapped")
        qa, sa = block.a + block.size, block.b + block.size
    return out


def copy_kinds(query: Document, q0: int, q1: int, a: int, b: int, source: Document, s0: int,
               s1: int, src_start: int, src_end: int, p: Passage, exact: bool) -> list[Kind]:
    """The kinds of copy of query normalised [q0, q1) (original [a, b)) from the source's
    normalised [s0, s1) (original [src_start, src_end)), found by passage ``p``; an ``exact``
    piece is the same text once normalised."""
    kinds: set[Kind] = set()
    if _reordered(p, max(q0, p.q_start), min(q1, p.q_end)):
        kinds.add("reordered")
    if not exact:
        kinds.update(_changes(query.norm.chars[q0:q1], source.norm.chars[s0:s1]))
    if _numbers(query, q0, q1) != _numbers(source, s0, s1):
        kinds.add("filled")
    copied, original = query.text[a:b], source.text[src_start:src_end]
    if converted_count(copied) > converted_count(original):
        kinds.add("converted")
    if copied.strip().count("\n") > original.strip().count("\n"):
        kinds.add("rewrapped")
    ordered = [k for k in PRECEDENCE if k in kinds]
    return ordered or ["verbatim"]
