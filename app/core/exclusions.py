"""What a reviewer decides does not count: quotations, chosen sources, the author's own earlier
reports, stock phrases, phrases common to much of the corpus, and formulas (passages many
references hold near-identically, see formulas.py).

Excluded text is still reported, marked with its reason; it only leaves the copy ratio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np

from .corpus import Reference
from .document import Document
from .formulas import FormulaRule
from .normalize import normalize

Reason = Literal["quote", "source", "own", "stock_phrase", "common_phrase", "formula"]
REASONS: tuple[Reason, ...] = ("quote", "source", "own", "stock_phrase", "common_phrase",
                               "formula")
PHRASES: frozenset[Reason] = frozenset({"stock_phrase", "common_phrase", "formula"})
OWN_TAGS = ("unit", "author")  # a reference with the same value of one of these is the author's

# “…”, 「…」, 『…』 quotations and 《…》 titles; never across a paragraph break
_QUOTES = re.compile(r"“[^”\n]*”|「[^」\n]*」|『[^』\n]*』|《[^》\n]*》")


@dataclass(frozen=True)
class Exclusions:
    quotes: bool = False
    sources: frozenset[str] = frozenset()  # reference ids, or tags as key=value
    own: bool = False
    report_tags: Mapping[str, str] = field(default_factory=dict)  # the checked report's unit/author
    stock_phrases: bool = True
    extra_stock_phrases: tuple[str, ...] = ()
    common_share: float | None = 0.5  # a phrase in more than this share of the documents is common
    common_min_docs: int = 3  # ... and in at least this many
    formulas: FormulaRule | None = field(default_factory=FormulaRule)  # None: none named
    count_formulas: bool = False  # formulas named but counted in the ratio

    def __post_init__(self) -> None:
        if self.common_share is not None and not 0 < self.common_share <= 1:
            raise ValueError(f"common_share must be in (0, 1], not {self.common_share}")
        if self.own and not any(self.report_tags.get(t) for t in OWN_TAGS):
            raise ValueError("exclude_own needs the report's unit or author (report tags "
                             f"{' or '.join(OWN_TAGS)})")

    def common_docs(self, corpus_size: int) -> int:
        """How many documents make a phrase common in a corpus of ``corpus_size``: more than
        ``common_share`` of them, and at least ``common_min_docs``."""
        assert self.common_share is not None
        return max(self.common_min_docs, int(self.common_share * corpus_size) + 1)


def source_reason(ref: Reference, excl: Exclusions) -> Reason | None:
    """Why matches with this reference do not count, if they don't."""
    if ref.id in excl.sources or any(f"{k}={v}" in excl.sources for k, v in ref.tags.items()):
        return "source"
    if excl.own and any(excl.report_tags.get(t) and ref.tags.get(t) == excl.report_tags[t]
                        for t in OWN_TAGS):
        return "own"
    return None


@lru_cache(maxsize=1)
def bundled_stock_phrases() -> tuple[str, ...]:
    text = (resources.files("app.core") / "data" / "stock_phrases.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=4096)
def _normalised(phrase: str) -> str:
    return normalize(phrase).chars


def char_reasons(query: Document, excl: Exclusions, common: np.ndarray | None,
                 formula: np.ndarray | None = None) -> list[Reason | None]:
    """Per original character: the reason it never counts on its own (None: it counts when
    copied). ``common`` and ``formula`` mark normalised characters of phrases common to the
    corpus and of formulas."""
    reasons: list[Reason | None] = [None] * len(query.text)
    norm = query.norm
    if excl.quotes:
        for m in _QUOTES.finditer(query.text):
            reasons[m.start() : m.end()] = ["quote"] * (m.end() - m.start())
    # normalised-level marks, mapped to the original text once at the end
    stock = np.zeros(len(norm), dtype=bool)
    phrases = (bundled_stock_phrases() if excl.stock_phrases else ()) + excl.extra_stock_phrases
    for phrase in phrases:
        key = _normalised(phrase)
        if len(key) < 2:
            continue
        start = norm.chars.find(key)
        while start >= 0:
            stock[start : start + len(key)] = True
            start = norm.chars.find(key, start + 1)
    none = np.zeros(len(norm), dtype=bool)
    marked: tuple[tuple[np.ndarray, Reason], ...] = (
        (stock, "stock_phrase"), (none if common is None else common, "common_phrase"),
        (none if formula is None else formula, "formula"))
    for marks, reason in marked:
        for i in np.flatnonzero(marks).tolist():
            for o in range(int(norm.starts[i]), int(norm.ends[i])):
                reasons[o] = reasons[o] or reason
    return reasons


def original_counts(query: Document, counts: np.ndarray) -> np.ndarray:
    """Per-normalised-character counts carried to the original characters they came from (0
    for characters that normalise to nothing)."""
    out = np.zeros(len(query.text), dtype=np.int64)
    norm = query.norm
    if len(norm):
        # a normalised character stands for original [starts, ends): mark each start, spread
        # to the end with a running maximum of the character's own index
        owner = np.full(len(query.text) + 1, -1, dtype=np.int64)
        owner[norm.starts] = np.arange(len(norm))
        owner = np.maximum.accumulate(owner)[: len(query.text)]
        inside = (owner >= 0) & (np.arange(len(query.text)) < norm.ends[np.maximum(owner, 0)])
        out[inside] = counts[owner[inside]]
    return out
