"""The side-by-side view (全文对照) of a kept check: the report and one source, both whole, every
passage copied from that source numbered and marked on both sides.

Passages are numbered in the report's order. On the report side passages never overlap (the
checker guarantees it); on the source side two passages of the report may come from one place,
so the source text is cut at every passage's bounds and each piece knows all the passages it
belongs to. Each passage's anchor sits on its first piece on either side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from app.core.highlight import highlight
from app.core.schema import CheckResult, Match
from app.core.segment import paragraphs
from app.reports.html import LABELS


@dataclass(frozen=True)
class Passage:
    number: int
    match: Match


@dataclass
class Piece:
    text: str
    passages: list[int] = field(default_factory=list)  # numbers of this source's passages
    anchors: list[int] = field(default_factory=list)  # passages that begin here
    other: str | None = None  # on the report side: copied from this other source


@dataclass
class Block:
    """A paragraph: its pieces and the share of its characters copied (from this source)."""

    pieces: list[Piece]
    ratio: float
    overall: float | None = None  # the report side: copied from any source


@dataclass
class Comparison:
    source_id: str
    source_title: str
    passages: list[Passage]
    report: list[Block]
    source: list[Block]
    full_source: bool  # False: the source's text is gone; its matched passages stand in
    copied_chars: int
    share: float
    notes: dict[int, str] = field(default_factory=dict)  # passage number: its kind, or formula


def note(match: Match) -> str:
    """What a passage is, as the page says it: a formula and how many references hold it, or
    how it was copied."""
    labels = LABELS["zh-CN"]
    if match.formula_refs is not None:
        return f"{labels['x_formula']}：{labels['held_by'].format(n=match.formula_refs)}"
    return f"{labels['kind']}：" + "、".join(labels[f"k_{kind}"] for kind in match.kinds)


def _chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _report_side(text: str, result: CheckResult, numbers: dict[tuple[int, int], int],
                 source_id: str) -> list[Block]:
    blocks = []
    for para in result.paragraphs:
        pieces, copied = [], 0
        for run in highlight(text, para.start, para.end, para.matches):
            m = run.match
            if m is not None and m.source.id == source_id:
                n = numbers[(m.start, m.end)]
                pieces.append(Piece(run.text, [n], anchors=[n]))
                copied += _chars(run.text)
            else:
                pieces.append(Piece(run.text, other=m.source.id if m is not None else None))
        blocks.append(Block(pieces, copied / para.chars if para.chars else 0.0,
                            para.copy_ratio))
    return blocks


def _source_side(source_text: str, passages: list[Passage]) -> list[Block]:
    ranges = [(p.number, p.match.source.start, p.match.source.end) for p in passages]
    anchored: set[int] = set()
    blocks = []
    for span in paragraphs(source_text):
        cuts = {span.start, span.end}
        for _, a, b in ranges:
            cuts.update(x for x in (a, b) if span.start < x < span.end)
        bounds = sorted(cuts)
        pieces, copied = [], 0
        for a, b in pairwise(bounds):
            inside = [n for n, s, e in ranges if s <= a and b <= e]
            piece = Piece(source_text[a:b], inside, [n for n in inside if n not in anchored])
            anchored.update(inside)
            if inside:
                copied += _chars(piece.text)
            pieces.append(piece)
        chars = _chars(source_text[span.start:span.end])
        blocks.append(Block(pieces, copied / chars if chars else 0.0))
    return blocks


def _stand_ins(passages: list[Passage]) -> list[Block]:
    return [Block([Piece(p.match.source.text, [p.number], [p.number])], 1.0)
            for p in passages]


def compare(text: str, result: CheckResult, source_id: str,
            source_text: str | None) -> Comparison:
    """``source_text``: the source's full text as kept with the check (None if it was not)."""
    ordered = sorted((m for p in result.paragraphs for m in p.matches
                      if m.source.id == source_id), key=lambda m: m.start)
    passages = [Passage(i + 1, m) for i, m in enumerate(ordered)]
    numbers = {(p.match.start, p.match.end): p.number for p in passages}
    share = next((s for s in result.sources if s.id == source_id), None)
    title = share.title if share else (ordered[0].source.title if ordered else source_id)
    full = source_text is not None and all(
        source_text[p.match.source.start:p.match.source.end] == p.match.source.text
        for p in passages)
    return Comparison(
        source_id=source_id, source_title=title, passages=passages,
        report=_report_side(text, result, numbers, source_id),
        source=_source_side(source_text, passages) if full and source_text is not None
        else _stand_ins(passages),
        full_source=full,
        copied_chars=share.copied_chars if share else 0,
        share=share.copy_ratio if share else 0.0,
        notes={p.number: note(p.match) for p in passages})
