"""Normalisation with a map back to the original text.

Matching happens on a stream of *content* characters: NFKC-folded, simplified Chinese, lower case,
with whitespace, punctuation and invisible marks removed and each run of numbers or template
placeholders folded to one symbol. ``chars[i]`` came from the original code points
``[starts[i], ends[i])``, so any range of the stream maps back to a slice of what the user sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import opencc

from .memo import Memo

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


def _converted(ch: str) -> bool:
    """Is this letter or digit one that normalising converts (a traditional character, a
    full-width letter or digit), beyond folding its case?"""
    if not ch.isalnum():
        return False
    return unicodedata.normalize("NFKC", ch) != ch or _simplify_char(ch) != ch


# ``str.translate`` table: a converted character to one character, others to nothing
_CONVERTED: Memo[int, str] = Memo(lambda code: "c" if _converted(chr(code)) else "", 65536)


def converted_count(text: str) -> int:
    """How many characters of ``text`` normalising converts (see _converted)."""
    return len(text.translate(_CONVERTED))


def _to_simplified(chars: str) -> str:
    """Traditional to simplified; whole-text conversion uses OpenCC's phrase tables and is kept
    when it preserves length (it almost always does), else each character is converted alone."""
    converted: str = _t2s.convert(chars)
    if len(converted) == len(chars):
        return converted
    return "".join(_simplify_char(c) for c in chars)


_TABLE_LIMIT = 65536
# ``str.translate`` tables, per code point: what it folds to; how many content characters that
# is, as a code point (0, 1, 2, ...); whether it is a numeral
_FOLDED: Memo[int, str] = Memo(lambda code: _fold_char(chr(code)), _TABLE_LIMIT)
_FOLDED_LENGTH: Memo[int, str] = Memo(lambda code: chr(len(_fold_char(chr(code)))), _TABLE_LIMIT)
_NUMERIC: Memo[int, str] = Memo(
    lambda code: "\x01" if chr(code).isdigit() or chr(code) in _CHINESE_NUMERALS else "\x00",
    _TABLE_LIMIT)
_PLACEHOLDER = re.compile("x+")


def _codes(text: str) -> np.ndarray:
    # a lone surrogate (JSON may carry one) is a code point like any other: it folds to nothing
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


# The same, as arrays over the basic plane, filled as code points are met: a text is folded by
# one gather instead of a dict lookup per character (four times faster). A code point beyond
# the plane, or one folding to several characters (ﬁ, ㈠), sends its text the general way.
_PLANE = 0x10000
_UNSEEN, _SEVERAL = 0xFFFFFFFF, 0xFFFFFFFE
_FOLD_TABLE = np.full(_PLANE, _UNSEEN, np.uint32)  # what a code point folds to; 0: nothing
_NUMERIC_TABLE = np.zeros(_PLANE, np.uint8)  # 0 unseen, 1 not numeric, 2 numeric


def _folded_codes(codes: np.ndarray) -> np.ndarray | None:
    """What each code point folds to (0: nothing), or None when one is beyond the plane or folds
    to several characters."""
    if int(codes.max()) >= _PLANE:
        return None
    folded = _FOLD_TABLE[codes]
    unseen = folded == _UNSEEN
    if unseen.any():
        for code in np.unique(codes[unseen]).tolist():
            fold = _fold_char(chr(code))
            _FOLD_TABLE[code] = ord(fold) if len(fold) == 1 else _SEVERAL if fold else 0
        folded = _FOLD_TABLE[codes]
    return None if (folded == _SEVERAL).any() else folded


def _numeric_flags(chars: str) -> np.ndarray:
    codes = _codes(chars)
    if int(codes.max()) >= _PLANE:
        return _codes(chars.translate(_NUMERIC)).astype(bool)
    flags = _NUMERIC_TABLE[codes]
    if not flags.all():
        for code in np.unique(codes[flags == 0]).tolist():
            _NUMERIC_TABLE[code] = 1 + (_NUMERIC[code] == "\x01")
        flags = _NUMERIC_TABLE[codes]
    return flags == 2


def _folded(text: str) -> tuple[str, np.ndarray]:
    """The folded characters of ``text`` (NFKC, lower case, content only), and for each the
    offset in ``text`` of the code point it came from."""
    codes = _codes(text)
    folded = _folded_codes(codes) if len(codes) else None
    if folded is None:
        lengths = _codes(text.translate(_FOLDED_LENGTH))
        return text.translate(_FOLDED), np.repeat(np.arange(len(text), dtype=np.int64), lengths)
    kept = np.flatnonzero(folded)
    return folded[kept].astype("<u4").tobytes().decode("utf-32-le"), kept


def normalize(text: str) -> NormalizedText:
    """Return the content stream of ``text`` with its map back to original offsets."""
    folded, origin = _folded(text)
    chars = _to_simplified(folded)
    if not chars:
        return NormalizedText("", np.empty(0, np.int64), np.empty(0, np.int64))

    numeric = _numeric_flags(chars)
    for a, b in _placeholder_runs(chars, origin):
        numeric[a:b] = True
    # a numeric character continues the number before it unless something other than one
    # separator stands between them in the original
    joins = np.zeros(len(chars), dtype=bool)
    for j in np.flatnonzero(numeric[1:] & numeric[:-1]).tolist():
        joins[j + 1] = _joins_number(text, int(origin[j]), int(origin[j + 1]))
    keep = ~joins
    starts = origin[keep]
    kept = np.flatnonzero(keep)
    # each kept character ends where the last character it stands for ends
    last = np.append(kept[1:], len(chars)) - 1
    ends = origin[last] + 1
    codes = _codes(chars)[keep].copy()
    codes[numeric[keep]] = ord(NUMBER)
    return NormalizedText(codes.tobytes().decode("utf-32-le"), starts, ends)


_NUMBER_SEPARATORS = frozenset(".,，．·'")


def _joins_number(text: str, prev: int, nxt: int) -> bool:
    """Two numeric characters belong to one number when nothing stands between them but one
    decimal point or thousands separator (5.5, 1,000); a line break or a bracket ends it."""
    gap = text[prev + 1 : nxt]
    return not gap or (len(gap) == 1 and gap in _NUMBER_SEPARATORS)


def _placeholder_runs(chars: str, origin: np.ndarray) -> list[tuple[int, int]]:
    """Runs of x that are template placeholders (XX个, X次), not part of a Latin word (Xbox):
    not glued to another Latin letter on either side."""
    out = []
    n = len(chars)
    for match in _PLACEHOLDER.finditer(chars):
        i, k = match.span()
        glued_before = i > 0 and origin[i - 1] + 1 == origin[i] and _is_latin(chars[i - 1])
        glued_after = k < n and origin[k - 1] + 1 == origin[k] and _is_latin(chars[k])
        if not (glued_before or glued_after):
            out.append((i, k))
    return out


def _is_latin(c: str) -> bool:
    return bool(c) and c.isascii() and c.isalpha()
