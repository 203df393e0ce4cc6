"""A text analysed once: normalised stream, paragraphs and sentence units with their offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .normalize import NormalizedText, normalize
from .segment import Span, paragraphs, sentences

MIN_UNIT_CHARS = 6  # shorter units (headings like 一、, 各位代表！) carry no evidence


@dataclass(frozen=True)
class Unit:
    """A sentence (or a clause of a long one) as normalised range [start, end)."""

    paragraph: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Document:
    text: str
    norm: NormalizedText
    paragraphs: list[Span]
    units: list[Unit]

    def unit_chars(self, unit: Unit) -> str:
        return self.norm.chars[unit.start : unit.end]

    def norm_range(self, span: Span) -> tuple[int, int]:
        """Normalised characters that come from the original span."""
        starts = self.norm.starts
        return (int(np.searchsorted(starts, span.start, "left")),
                int(np.searchsorted(starts, span.end, "left")))


def analyse(text: str) -> Document:
    norm = normalize(text)
    paras = paragraphs(text)
    doc = Document(text, norm, paras, [])
    for p, para in enumerate(paras):
        for sent in sentences(text, para):
            a, b = doc.norm_range(sent)
            if b - a >= MIN_UNIT_CHARS:
                doc.units.append(Unit(p, a, b))
    return doc


def source_document(text: str) -> Document:
    """What a check needs of a reference it reports (its normalised stream with the map back to
    the text, and its paragraphs), without the sentence units only a query needs."""
    return Document(text, normalize(text), paragraphs(text), [])
