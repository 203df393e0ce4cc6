"""Paragraphs and sentences, as code-point spans of the original text.

A paragraph is a run of lines; lines hard-wrapped at a fixed width (text pasted out of a PDF) are
joined back into one paragraph, whether the whole text is wrapped or only a passage pasted into
it, and whether the width is a number of characters or of display columns (a PDF line holds more
half-width digits than Chinese characters). Sentences end at 。！？；… (and their ASCII forms);
sentences longer than ``MAX_SENTENCE`` characters are cut further at commas so that one copied
clause of a long template sentence is still a unit of its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from .memo import Memo

SENTENCE_END = "。！？；!?;…"
CLOSERS = "”’」』）)】》\"'"
MAX_SENTENCE = 90
CLAUSE_BREAK = "，,：:"

_LINE = re.compile(r"[^\n]*\n?")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _lines(text: str) -> list[tuple[int, int]]:
    """Lines as [start, end) without their line break; \\r\\n, \\r and \\n all break lines."""
    text = text.replace("\r\n", " \n").replace("\r", "\n")  # same length: offsets stay valid
    out = []
    for m in _LINE.finditer(text):
        if m.start() == m.end():
            break
        end = m.end() - 1 if m.group().endswith("\n") else m.end()
        out.append((m.start(), end))
    return out


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _wrap_width(lengths: list[int]) -> int | None:
    """The width a text was hard-wrapped at, or None when its lines are real paragraphs.

    Hard-wrapped text has many lines of (nearly) one length; real paragraphs vary widely."""
    long_lines = [n for n in lengths if n >= 8]
    if len(long_lines) < 4:
        return None
    width, _ = Counter(long_lines).most_common(1)[0]
    near = sum(1 for n in long_lines if width - 2 <= n <= width + 1)
    widest = max(long_lines)
    if near / len(long_lines) >= 0.5 and widest <= width + 2:
        return width
    return None


# A run of consecutive lines this close in length (characters, or display columns) and at least
# this long is wrapped text, each line going on in the next: a run of RUN_SURE lines or more
# (chance does not make that many equal lines), or a shorter one none of whose lines ends a
# sentence.
RUN_CHARS, RUN_COLUMNS = 1, 2
RUN_MIN_CHARS = 20
RUN_SURE = 4
# ``str.translate`` table: a wide (two-column) character to one character, others to nothing
_WIDE: Memo[int, str] = Memo(
    lambda code: "w" if unicodedata.east_asian_width(chr(code)) in "WF" else "", 65536)


def _columns(text: str, start: int, end: int) -> int:
    """Display columns of text[start:end]: two for a wide (Chinese) character, one for others."""
    return end - start + len(text[start:end].translate(_WIDE))


def _ends_sentence(text: str, end: int) -> bool:
    return end > 0 and (text[end - 1] in SENTENCE_END or text[end - 1] in CLOSERS or
                        text[end - 1] in "：:")


def _ends_in_a_line(text: str, line: tuple[int, int], in_columns: bool, width: int) -> bool:
    """Does the line end in a whole wrapped line of about ``width`` (characters, or display
    columns) that starts a sentence: text typed before a pasted passage, then its first line?"""
    start, end = line
    tolerance = RUN_COLUMNS if in_columns else RUN_CHARS
    i, used = end, 0
    while i > start and used <= width:
        if used >= width - tolerance and _ends_sentence(text, i):
            return True
        i -= 1
        used += _columns(text, i, i + 1) if in_columns else 1
    return False


def _runs(widths: list[int], tolerance: int, least: int) -> list[tuple[int, int]]:
    """Maximal runs [a, b] of two or more consecutive lines whose widths lie within
    ``tolerance`` of each other, at least ``least`` wide."""
    out = []
    a = 0
    while a < len(widths):
        low = high = widths[a]
        b = a
        while b + 1 < len(widths) and max(high, widths[b + 1]) - min(low, widths[b + 1]) \
                <= tolerance:
            b += 1
            low, high = min(low, widths[b]), max(high, widths[b])
        if b > a and low >= least:
            out.append((a, b))
        a = b + 1
    return out


def _wrapped(text: str, lines: list[tuple[int, int]]) -> set[int]:
    """Indexes of the lines that go on in the next one: the lines of runs of (nearly) equal
    length, and the line before such a run when it is as long and stops mid-sentence (a passage
    pasted out of a PDF into a paragraph starts on that line)."""
    joins: set[int] = set()
    chars = [e - s for s, e in lines]
    columns = [_columns(text, s, e) for s, e in lines]
    for widths, tolerance, least in ((chars, RUN_CHARS, RUN_MIN_CHARS),
                                     (columns, RUN_COLUMNS, 2 * RUN_MIN_CHARS)):
        for a, b in _runs(widths, tolerance, least):
            # a short run is wrapped text only if none of its lines ends a sentence (two equal
            # paragraphs, or a heading and a sentence of its length, end theirs)
            if b - a + 1 < RUN_SURE and any(_ends_sentence(text, lines[i][1])
                                            for i in range(a, b + 1)):
                continue
            run = [i for i in range(a, b + 1) if i + 1 < len(lines)]
            joins.update(run)
            # the line the pasted passage starts on: as long as the run's lines (a heading
            # before wrapped text is short, and stays a paragraph of its own), stopping
            # mid-sentence or ending in a whole line of the paste
            if a > 0 and widths[a - 1] >= min(widths[a : b + 1]) - tolerance and (
                    not _ends_sentence(text, lines[a - 1][1])
                    or _ends_in_a_line(text, lines[a - 1], widths is columns, max(
                        widths[a : b + 1]))):
                joins.add(a - 1)
    return joins


def paragraphs(text: str) -> list[Span]:
    """Non-empty paragraphs of ``text`` with surrounding whitespace trimmed."""
    lines = [_strip(text, s, e) for s, e in _lines(text)]
    lines = [(s, e) for s, e in lines if e > s]
    width = _wrap_width([e - s for s, e in lines])
    joins = _wrapped(text, lines)
    out: list[Span] = []
    cur: list[int] | None = None
    for i, (s, e) in enumerate(lines):
        if cur is None:
            cur = [s, e]
        else:
            cur[1] = e
        # a line that reaches the wrap width goes on in the next line, even when it happens to
        # end with 。: joining two paragraphs costs less than splitting one
        wrapped = (width is not None and (e - s) >= width - 2) or i in joins
        if not wrapped:
            out.append(Span(cur[0], cur[1]))
            cur = None
    if cur is not None:
        out.append(Span(cur[0], cur[1]))
    return out


def sentences(text: str, para: Span) -> list[Span]:
    """Sentences of one paragraph, each with its closing punctuation."""
    out: list[Span] = []
    start = para.start
    i = para.start
    while i < para.end:
        if text[i] in SENTENCE_END:
            j = i + 1
            while j < para.end and (text[j] in SENTENCE_END or text[j] in CLOSERS):
                j += 1
            out.extend(_cut_long(text, start, j))
            start = i = j
            continue
        i += 1
    if start < para.end:
        out.extend(_cut_long(text, start, para.end))
    stripped = (_strip(text, s.start, s.end) for s in out)
    return [Span(s, e) for s, e in stripped if e > s]


def _cut_long(text: str, start: int, end: int) -> list[Span]:
    """Cut a sentence longer than MAX_SENTENCE at commas into pieces of about half that; text
    with no punctuation at all is cut every MAX_SENTENCE characters, so no unit grows without
    bound (a megabyte on one line must not become one sentence)."""
    if end - start <= MAX_SENTENCE:
        return [Span(start, end)]
    out = []
    piece = start
    for i in range(start, end):
        at_comma = text[i] in CLAUSE_BREAK and i + 1 - piece >= MAX_SENTENCE // 2
        if (at_comma and end - i > 15) or i + 1 - piece >= MAX_SENTENCE:
            out.append(Span(piece, i + 1))
            piece = i + 1
    if piece < end:
        out.append(Span(piece, end))
    return out
