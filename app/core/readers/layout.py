"""Paragraphs from text placed on a page (OFD text objects, OCR boxes), one paragraph a line.

Pieces on one baseline make a line, read left to right. Lines make a paragraph until one of the
signs a reader goes by: a first-line indent (Chinese paragraphs start two characters in), a
short line before (the last line of a paragraph), or a gap wider than the line spacing. The
detection core re-joins hard-wrapped lines anyway; this keeps the paragraphs a reviewer sees.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Piece:
    """Text at a place: ``left``/``right``/``top``/``bottom`` in any unit, y growing down."""

    left: float
    right: float
    top: float
    bottom: float
    text: str

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1e-6)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass
class Line:
    pieces: list[Piece]

    @property
    def left(self) -> float:
        return min(p.left for p in self.pieces)

    @property
    def right(self) -> float:
        return max(p.right for p in self.pieces)

    @property
    def top(self) -> float:
        return min(p.top for p in self.pieces)

    @property
    def bottom(self) -> float:
        return max(p.bottom for p in self.pieces)

    @property
    def height(self) -> float:
        return statistics.median(p.height for p in self.pieces)

    @property
    def text(self) -> str:
        out = ""
        for piece in sorted(self.pieces, key=lambda p: p.left):  # stable: ties keep order
            if out and _needs_space(out[-1], piece.text[:1]):
                out += " "
            out += piece.text
        return out


def _needs_space(before: str, after: str) -> bool:
    return before.isascii() and before.isalnum() and after.isascii() and after.isalnum()


def lines(pieces: list[Piece]) -> list[Line]:
    """Pieces grouped into lines (a piece joins a line its middle falls within), top down."""
    out: list[Line] = []
    for piece in sorted(pieces, key=lambda p: p.middle):
        if not piece.text.strip():
            continue
        last = out[-1] if out else None
        if last is not None and abs(piece.middle - _middle(last)) <= 0.5 * min(
                piece.height, last.height):
            last.pieces.append(piece)
        else:
            out.append(Line([piece]))
    return out


def _middle(line: Line) -> float:
    return (line.top + line.bottom) / 2


def paragraphs(page_lines: list[Line]) -> list[str]:
    """The lines of one page joined into paragraphs."""
    if not page_lines:
        return []
    height = statistics.median(line.height for line in page_lines)
    steps = [b.top - a.top for a, b in pairwise(page_lines)]
    pitch = statistics.median(steps) if steps else height  # line spacing: 1 to 2 heights
    margin_left = statistics.median_low(line.left for line in page_lines)
    margin_right = max(line.right for line in page_lines)
    out: list[str] = []
    previous: Line | None = None
    for line in page_lines:
        text = line.text.strip()
        starts = (previous is None
                  or line.left - margin_left > 0.8 * height  # indented first line
                  or previous.right < margin_right - 1.5 * height  # short line before
                  or line.top - previous.top > 1.6 * max(pitch, height))  # a blank line
        if starts or not out:
            out.append(text)
        else:
            out[-1] += (" " if _needs_space(out[-1][-1:], text[:1]) else "") + text
        previous = line
    return out
