"""Scores: passages in normalised coordinates -> matches, paragraph and report figures."""

from __future__ import annotations

from bisect import bisect_right

from rapidfuzz.distance import Indel

from .align import Passage
from .corpus import Reference
from .document import Document
from .exclusions import Reason
from .index import Index
from .normalize import NUMBER
from .schema import CheckResult, ExcludedPart, Match, Paragraph, SourcePassage, SourceShare
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


def _snap(text: str, start: int, end: int, para: Span) -> tuple[int, int]:
    """Take in the punctuation that belongs to the copied sentence: an opening bracket or quote
    before it, the full stop and closing quotes after it."""
    while start > para.start and text[start - 1] in OPENERS:
        start -= 1
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
                 min_match_chars: int) -> Reason | None:
    """The reason a copied passage is only shared phrasing: without its stock phrases, common
    phrases and quotations, less than ``min_match_chars`` of it is left. None when it is a copy
    (stock and common phrases inside a longer copied passage count with it)."""
    counts: dict[Reason, int] = {}
    left = 0
    for i in range(start, end):
        reason = reasons[i]
        if reason is not None:
            counts[reason] = counts.get(reason, 0) + 1
        elif text[i].isalnum():
            left += 1
    if left >= min_match_chars or not counts:
        return None
    return max(counts, key=lambda r: counts[r])


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
          source_reasons: dict[int, Reason]) -> CheckResult:
    text = query.text
    norm = query.norm
    per_para: dict[int, list[tuple[Match, str]]] = {}
    para_starts = [para.start for para in query.paragraphs]
    refs: dict[str, Reference] = {}  # the sources reported, by id
    for p in passages:
        ref = index.ref(p.doc)
        refs[ref.id] = ref
        src_doc = index.doc(p.doc)
        q_start, q_end = _trim_numbers(norm.chars, p.q_start, p.q_end)
        if q_end <= q_start:
            continue
        o_start, o_end = norm.original_span(q_start, q_end)
        whole = source_reasons.get(p.doc) or _phrase_only(text, o_start, o_end, reasons,
                                                          min_match_chars)
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
            match = Match(
                start=a, end=b, text=text[a:b], similarity=round(similarity, 4),
                exact=p.exact_over(max(qa, p.q_start), min(qb, p.q_end)),
                source=SourcePassage(id=ref.id, title=ref.display_title, start=src_start,
                                     end=src_end, text=ref.text[src_start:src_end]),
            )
            per_para.setdefault(k, []).append((
                _with_exclusions(match, reasons, whole),
                src_doc.norm.chars[sa:sb]))

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
    )
