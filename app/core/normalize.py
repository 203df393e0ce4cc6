"""Normalisation with a map back to the original text.

Matching happens on a stream of *content* characters: NFKC-folded, simplified Chinese, lower case,
with whitespace, punctuation and invisible marks removed and each run of numbers or template
placeholders folded to one symbol. ``chars[i]`` came from the original code points
``[starts[i], ends[i])``, so any range of the stream maps back to a slice of what the user sent.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import opencc

NUMBER = "0"
"""What every number and placeholder run folds to: XX个, 35个 and 三十五个 all read 0个."""

# Chinese numerals fold like digits so that 十九大 -> 二十大 and 第X次 -> 第三次 still match.
_CHINESE_NUMERALS = frozenset("〇零一二三四五六七八九十")
_KEPT_CATEGORIES = ("L", "N")  # letters and numbers; punctuation, symbols, marks, spaces go

_t2s = opencc.OpenCC("t2s")


@dataclass(frozen=True)
class NormalizedText:
    """Content characters of a text and, for each, its code-point offset in the original."""

    chars: str
    starts: np.ndarray  # int64, len(chars): original offset where chars[i] begins
    ends: np.ndarray  # int64, len(chars): original offset just past what chars[i] stands for

    def __len__(self) -> int:
        return len(self.chars)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) covering normalised characters [start, end)."""
        return int(self.starts[start]), int(self.ends[end - 1])


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """NFKC, lower case, keep only letters and numbers ('' for everything else)."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).lower():
        if unicodedata.category(c)[0] in _KEPT_CATEGORIES:
            out.append(c)
    return "".join(out)


@lru_cache(maxsize=65536)
def _simplify_char(ch: str) -> str:
    converted: str = _t2s.convert(ch)
    return converted if len(converted) == 1 else ch


def _to_simplified(chars: list[str]) -> list[str]:
    """Traditional to simplified; whole-text conversion uses OpenCC's phrase tables and is kept
    when it preserves length (it almost always does), else each character is converted alone."""
    joined = "".join(chars)
    converted: str = _t2s.convert(joined)
    if len(converted) == len(joined):
        return list(converted)
    return [_simplify_char(c) for c in chars]


def _is_number(c: str) -> bool:
    return c.isdigit() or c in _CHINESE_NUMERALS


def normalize(text: str) -> NormalizedText:
    """Return the content stream of ``text`` with its map back to original offsets."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in _fold_char(ch):
            chars.append(c)
            origin.append(i)
    chars = _to_simplified(chars)

    numeric = [_is_number(c) for c in chars]
    for a, b in _placeholder_runs(chars, origin):
        numeric[a:b] = [True] * (b - a)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(chars)
    i = 0
    while i < n:
        c = chars[i]
        if numeric[i]:
            j = i + 1
            while j < n and numeric[j] and _joins_number(text, origin[j - 1], origin[j]):
                j += 1
            out.append(NUMBER)
            starts.append(origin[i])
            ends.append(origin[j - 1] + 1)
            i = j
            continue
        out.append(c)
        starts.append(origin[i])
        ends.append(origin[i] + 1)
        i += 1
    return NormalizedText(
        "".join(out), np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    )


_NUMBER_SEPARATORS = frozenset(".,，．·'")


def _joins_number(text: str, prev: int, nxt: int) -> bool:
    """Two numeric characters belong to one number when nothing stands between them but one
    decimal point or thousands separator (5.5, 1,000); a line break or a bracket ends it."""
    gap = text[prev + 1 : nxt]
    return not gap or (len(gap) == 1 and gap in _NUMBER_SEPARATORS)


def _placeholder_runs(chars: list[str], origin: list[int]) -> list[tuple[int, int]]:
    """Runs of x that are template placeholders (XX个, X次), not part of a Latin word (Xbox):
    not glued to another Latin letter on either side. One pass over the text."""
    out = []
    i, n = 0, len(chars)
    while i < n:
        if chars[i] != "x":
            i += 1
            continue
        k = i
        while k < n and chars[k] == "x":
            k += 1
        glued_before = i > 0 and origin[i - 1] + 1 == origin[i] and _is_latin(chars[i - 1])
        glued_after = k < n and origin[k - 1] + 1 == origin[k] and _is_latin(chars[k])
        if not (glued_before or glued_after):
            out.append((i, k))
        i = k
    return out


def _is_latin(c: str) -> bool:
    return bool(c) and c.isascii() and c.isalpha()
