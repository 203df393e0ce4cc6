"""Scores: passages in normalised coordinates -> matches, paragraph and report figures."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Indel

from .align import Passage
from .corpus import Reference
from .document import Document
from .exclusions import PHRASES, Reason
from .index import Index
from .kinds import copy_kinds
from .normalize import NUMBER
from .schema import (
    CheckResult,
    ExcludedPart,
    Formula,
    Match,
    Paragraph,
    SourcePassage,
    SourceShare,
)
from .segment import CLOSERS, SENTENCE_END, Span

OPENERS = "“‘「『（(【《\"'"
MIN_PIECE = 4  # normalised characters a passage must keep in a paragraph to be shown there


def _trim_numbers(chars: str, start: int, end: int) -> tuple[int, int]:
    """A folded number at the end of a passage is no evidence of copying (the 一 of the next
    heading's 一、 matches any number): drop it. At the start it opens the copied sentence
    (二是…, 2019年…) and stays."""
    while end > start and chars[end - 1] == NUMBER:
        end -= 1
    return start, end


UNIT_SIGNS = "%‰％"  # may stand between a number and the full stop that ends its sentence


def _sentence_end_after(text: str, offset: int, end: int) -> int | None:
    """Where the sentence-end punctuation after original ``offset`` is, when only a per-cent
    sign and spaces stand before it (within ``end``); else None."""
    while offset < end and (text[offset] in UNIT_SIGNS or text[offset] in " \t\u3000"):
        offset += 1
    return offset if offset < end and text[offset] in SENTENCE_END else None


def trim_trailing_number(query: Document, start: int, end: int) -> int:
    """The end of normalised range [start, end) without a folded number at its end, unless the
    number ends a sentence of the text (…达到48%。): then it is the copied figure's place."""
    chars, norm = query.norm.chars, query.norm
    while end > start and chars[end - 1] == NUMBER:
        if _sentence_end_after(query.text, int(norm.ends[end - 1]), len(query.text)) is not None:
            break
        end -= 1
    return end


def _snap(text: str, start: int, end: int, para: Span) -> tuple[int, int]:
    """Take in the punctuation that belongs to the copied sentence: an opening bracket or quote
    before it, the full stop and closing quotes after it (and a per-cent sign before them)."""
    while start > para.start and text[start - 1] in OPENERS:
        start -= 1
    stop = _sentence_end_after(text, end, para.end)
    if stop is not None:
        end = stop
    while end < para.end and text[end] in SENTENCE_END + CLOSERS:
        end += 1
    return start, end


def _snap_source(doc: Document, start: int, end: int) -> tuple[int, int]:
    """_snap on the source side: the opening punctuation within the paragraph where the passage
    starts, the closing one within the paragraph where it ends."""
    first, last = _paragraph_of(doc, start), _paragraph_of(doc, end - 1)
    if first is not None:
        start, _ = _snap(doc.text, start, start, first)
    if last is not None:
        _, end = _snap(doc.text, end, end, last)
    return start, end


def _paragraph_of(doc: Document, offset: int) -> Span | None:
    starts = [p.start for p in doc.paragraphs]
    i = bisect_right(starts, offset) - 1
    return doc.paragraphs[i] if i >= 0 and offset < doc.paragraphs[i].end else None


def _non_space(text: str, start: int, end: int) -> int:
    return sum(1 for ch in text[start:end] if not ch.isspace())


def _phrase_only(text: str, start: int, end: int, reasons: list[Reason | None],
                 min_match_chars: int, counted: frozenset[Reason] = frozenset()) -> Reason | None:
    """The reason a copied passage is only shared phrasing: without its stock phrases, common
    phrases, formulas and quotations (but those of ``counted``), less than ``min_match_chars``
    of it is left. None when it is a copy (stock and common phrases and formulas inside a
    longer copied passage count with it)."""
    counts: dict[Reason, int] = {}
    left = 0
    for i in range(start, end):
        reason = reasons[i]
        if reason is not None and reason not in counted:
            counts[reason] = counts.get(reason, 0) + 1
        elif text[i].isalnum():
            left += 1
    if left >= min_match_chars or not counts:
        return None
    return max(counts, key=lambda r: counts[r])


@dataclass(frozen=True)
class Formulas:
    """What names formulas: per original character, how many references hold it
    (formulas.formula_counts), the holders that make a formula, whether formulas count in the
    ratio, and the corpus size."""

    held: np.ndarray
    needed: int
    counted: bool
    corpus_size: int

    def refs(self, start: int, end: int) -> int:
        """References holding original [start, end): the fewest over its formula characters
        (every part of it is held by at least that many), else the most over its characters
        (a stock phrase the corpus holds less often)."""
        held = self.held[start:end]
        held = held[held > 0]
        if not len(held):
            return 0
        marked = held[held >= self.needed]
        return int(marked.min()) if len(marked) else int(held.max())


def _with_exclusions(match: Match, reasons: list[Reason | None],
                     whole: Reason | None) -> Match:
    """Mark what of the match does not count: all of it (an excluded source, or a passage that
    is only shared phrasing), or the quotations inside it (a quotation is quoted, not copied)."""
    if whole is not None:
        return match.model_copy(update={"excluded": whole})
    quotes: list[ExcludedPart] = []
    for i in range(match.start, match.end):
        if reasons[i] != "quote":
            continue
        if quotes and quotes[-1].end == i:
            quotes[-1].end = i + 1
        else:
            quotes.append(ExcludedPart(start=i, end=i + 1, reason="quote"))
    return match.model_copy(update={"excluded_parts": quotes})


def _counted(text: str, match: Match) -> tuple[int, dict[str, int]]:
    """Non-space characters of the match that count, and those excluded by reason."""
    total = _non_space(text, match.start, match.end)
    if match.excluded is not None:
        return 0, {match.excluded: total}
    excluded: dict[str, int] = {}
    for part in match.excluded_parts:
        excluded[part.reason] = excluded.get(part.reason, 0) + _non_space(text, part.start,
                                                                          part.end)
    return total - sum(excluded.values()), excluded


def score(query: Document, passages: list[Passage], index: Index, threshold: float,
          min_match_chars: int, title: str | None, reasons: list[Reason | None],
          source_reasons: dict[int, Reason], formulas: Formulas | None = None) -> CheckResult:
    text = query.text
    norm = query.norm
    per_para: dict[int, list[tuple[Match, str]]] = {}
    para_starts = [para.start for para in query.paragraphs]
    refs: dict[str, Reference] = {}  # the sources reported, by id
    found: list[tuple[int, int, str]] = []  # formulas: paragraph, start, normalised text
    # count_formulas: every formula counts, whichever rule named it
    counted = PHRASES if formulas is not None and formulas.counted else frozenset[Reason]()
    for p in passages:
        ref = index.ref(p.doc)
        refs[ref.id] = ref
        src_doc = index.doc(p.doc)
        q_start, q_end = p.q_start, trim_trailing_number(query, p.q_start, p.q_end)
        if q_end <= q_start:
            continue
        o_start, o_end = norm.original_span(q_start, q_end)
        excluded_source = source_reasons.get(p.doc)
        first = max(bisect_right(para_starts, o_start) - 1, 0)
        for k in range(first, len(query.paragraphs)):
            para = query.paragraphs[k]
            if para.start >= o_end:
                break
            a, b = max(o_start, para.start), min(o_end, para.end)
            if a >= b:
                continue
            a, b = _snap(text, a, b, para)
            qa, qb = query.norm_range(Span(a, b))
            if qb - qa < MIN_PIECE and (qa > q_start or qb < q_end):
                continue  # the tail of a passage running into a heading of the next paragraph
            sa, sb = p.source_range(max(qa, p.q_start), min(qb, p.q_end))
            if norm.chars[qb - 1] != NUMBER:  # the source side ends on a copied character too
                sa, sb = _trim_numbers(src_doc.norm.chars, sa, sb)
            src_start, src_end = src_doc.norm.original_span(sa, min(sb, len(src_doc.norm)))
            src_start, src_end = _snap_source(src_doc, src_start, src_end)
            similarity = Indel.normalized_similarity(norm.chars[qa:qb], src_doc.norm.chars[sa:sb])
            # shared phrasing, judged on the whole passage and on its piece in this paragraph:
            # a formula paragraph after a copied one is still a formula
            whole = excluded_source or _phrase_only(text, o_start, o_end, reasons,
                                                    min_match_chars, counted) \
                or _phrase_only(text, a, b, reasons, min_match_chars, counted)
            formula_refs = None
            if formulas is not None and (
                    _phrase_only(text, o_start, o_end, reasons, min_match_chars) in PHRASES
                    or _phrase_only(text, a, b, reasons, min_match_chars) in PHRASES):
                formula_refs = formulas.refs(a, b)
            exact = p.exact_over(max(qa, p.q_start), min(qb, p.q_end))
            kinds = copy_kinds(query, qa, qb, a, b, src_doc, sa, sb, src_start, src_end, p, exact)
            match = Match(
                start=a, end=b, text=text[a:b], similarity=round(similarity, 4),
                exact=exact, kind=kinds[0], kinds=kinds, formula_refs=formula_refs,
                source=SourcePassage(id=ref.id, title=ref.display_title, start=src_start,
                                     end=src_end, text=ref.text[src_start:src_end]),
            )
            per_para.setdefault(k, []).append((
                _with_exclusions(match, reasons, whole),
                src_doc.norm.chars[sa:sb]))
            if formula_refs is not None:
                found.append((k, match.start, norm.chars[qa:qb]))

    paragraphs: list[Paragraph] = []
    copied_by_source: dict[str, int] = {}
    excluded: dict[str, int] = {}
    total_chars = total_copied = 0
    for k, para in enumerate(query.paragraphs):
        chars = _non_space(text, para.start, para.end)
        items = sorted(per_para.get(k, []), key=lambda it: it[0].start)
        source_chars: dict[str, int] = {}
        for m, _ in items:  # matches never overlap (resolve_overlaps)
            n, left_out = _counted(text, m)
            if n:
                source_chars[m.source.id] = source_chars.get(m.source.id, 0) + n
            for reason, count in left_out.items():
                excluded[reason] = excluded.get(reason, 0) + count
        copied = sum(source_chars.values())
        closest = max(source_chars, key=lambda s: source_chars[s]) if source_chars else None
        similarity = 0.0
        if closest is not None:
            para_norm = norm.chars[slice(*query.norm_range(para))]
            src_text = "".join(dict.fromkeys(s for m, s in items if m.source.id == closest))
            similarity = Indel.normalized_similarity(para_norm, src_text)
        for sid, n in source_chars.items():
            copied_by_source[sid] = copied_by_source.get(sid, 0) + n
        total_chars += chars
        total_copied += copied
        paragraphs.append(Paragraph(
            index=k, start=para.start, end=para.end, chars=chars, copied_chars=copied,
            copy_ratio=round(copied / chars, 4) if chars else 0.0,
            similarity=round(similarity, 4), closest_source=closest,
            matches=[m for m, _ in items],
        ))

    by_start = {m.start: m for para in paragraphs for m in para.matches}
    formula_list = _formula_list(text, [(k, by_start[start], key) for k, start, key in found],
                                 formulas.corpus_size if formulas is not None else 0)
    ratio = total_copied / total_chars if total_chars else 0.0
    raw = total_copied + sum(excluded.values())
    sources = [
        SourceShare(id=sid, title=refs[sid].display_title, tags=refs[sid].tags,
                    copied_chars=n, copy_ratio=round(n / total_chars, 4))
        for sid, n in sorted(copied_by_source.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return CheckResult(
        title=title, chars=total_chars, copied_chars=total_copied, copy_ratio=round(ratio, 4),
        raw_copied_chars=raw, raw_copy_ratio=round(raw / total_chars, 4) if total_chars else 0.0,
        excluded_chars=excluded,
        threshold=threshold, verdict="fail" if ratio > threshold else "pass",
        min_match_chars=min_match_chars, paragraphs=paragraphs, sources=sources,
        formulas=formula_list,
    )


def _formula_list(text: str, found: list[tuple[int, Match, str]],
                  corpus_size: int) -> list[Formula]:
    """The formulas of a report, each once (by its normalised text), in the order they first
    occur, with how many references hold them."""
    out: dict[str, Formula] = {}
    for k, m, key in found:
        chars = _non_space(text, m.start, m.end)
        refs = m.formula_refs or 0
        f = out.get(key)
        if f is None:
            out[key] = Formula(text=m.text, refs=refs,
                               share=round(min(refs / corpus_size, 1.0), 4) if corpus_size
                               else 0.0, occurrences=1, chars=chars,
                               counted=m.excluded is None, paragraphs=[k])
            continue
        f.occurrences += 1
        f.chars += chars
        f.refs = max(f.refs, refs)
        f.share = round(min(f.refs / corpus_size, 1.0), 4) if corpus_size else 0.0
        f.counted = f.counted or m.excluded is None
        if k not in f.paragraphs:
            f.paragraphs.append(k)
    return list(out.values())
