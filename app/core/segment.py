"""Paragraphs and sentences, as code-point spans of the original text.

A paragraph is a run of lines; lines hard-wrapped at a fixed width (text pasted out of a PDF) are
joined back into one paragraph. Sentences end at 。！？；… (and their ASCII forms); sentences longer
than ``MAX_SENTENCE`` characters are cut further at commas so that one copied clause of a long
template sentence is still a unit of its own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

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


def paragraphs(text: str) -> list[Span]:
    """Non-empty paragraphs of ``text`` with surrounding whitespace trimmed."""
    lines = [_strip(text, s, e) for s, e in _lines(text)]
    lines = [(s, e) for s, e in lines if e > s]
    width = _wrap_width([e - s for s, e in lines])
    out: list[Span] = []
    cur: list[int] | None = None
    for s, e in lines:
        if cur is None:
            cur = [s, e]
        else:
            cur[1] = e
        # a line that reaches the wrap width goes on in the next line, even when it happens to
        # end with 。: joining two paragraphs costs less than splitting one
        wrapped = width is not None and (e - s) >= width - 2
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
