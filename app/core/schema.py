"""The result schema: one model for the CLI's JSON, the API and every report format.

All offsets are code points into the text as decoded from the user's file (``start`` inclusive,
``end`` exclusive); ``text`` is always ``document[start:end]``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1

ExclusionReason = Literal["quote", "source", "own", "stock_phrase", "common_phrase", "formula"]
CopyKind = Literal["verbatim", "filled", "swapped", "reordered", "converted", "rewrapped"]


def _verbatim() -> list[CopyKind]:
    return ["verbatim"]


class SourcePassage(BaseModel):
    id: str = Field(description="Reference document id (its file name without extension).")
    title: str
    collection: str | None = Field(None, description="The service's collection the source is "
                                   "in (null outside the service, and for a report of the same "
                                   "batch).")
    start: int = Field(description="Start of the copied passage in the reference text.")
    end: int
    text: str


class ExcludedPart(BaseModel):
    start: int
    end: int
    reason: ExclusionReason


class Match(BaseModel):
    start: int = Field(description="Start of the copied span in the checked text.")
    end: int
    text: str
    similarity: float = Field(ge=0, le=1, description="1.0 for a verbatim copy (after "
                              "normalisation); lower for disguised copies.")
    exact: bool = Field(description="The span is made only of verbatim runs.")
    excluded: ExclusionReason | None = Field(
        None, description="Why this whole span does not count in copy_ratio (null: it counts, "
        "but for its excluded_parts).")
    excluded_parts: list[ExcludedPart] = Field(
        default_factory=list, description="Parts of the span that do not count, with why.")
    kind: CopyKind = Field("verbatim", description="What kind of copy: verbatim, filled "
                           "(placeholders filled, figures changed), swapped (words swapped, added "
                           "or dropped), reordered (sentences reordered), converted (traditional "
                           "or full-width characters), rewrapped (line breaks added); the first of "
                           "kinds.")
    kinds: list[CopyKind] = Field(default_factory=_verbatim, description="Every "
                                  "kind that applies, the most telling first.")
    formula_refs: int | None = Field(
        None, description="Set when the span is a formula (规定表述) rather than a copy: a "
        "passage many references hold near-identically, or a stock phrase; how many "
        "references hold it. Null for a copy.")
    source: SourcePassage


class Paragraph(BaseModel):
    index: int
    start: int
    end: int
    chars: int = Field(description="Non-whitespace characters in the paragraph.")
    copied_chars: int
    copy_ratio: float = Field(ge=0, le=1)
    similarity: float = Field(ge=0, le=1, description="Similarity to the closest source passage.")
    closest_source: str | None = None
    matches: list[Match] = []


class Formula(BaseModel):
    """A formula found in the report, once however often it occurs."""

    text: str = Field(description="The formula as the report writes it (its first place).")
    refs: int = Field(description="References holding it near-identically.")
    share: float = Field(ge=0, le=1, description="refs over the references in the corpus.")
    occurrences: int = Field(description="Places in the report where it is.")
    chars: int = Field(description="Non-whitespace characters of the report it covers.")
    counted: bool = Field(description="Counted in copy_ratio (count_formulas, or a stock "
                          "phrase the reviewer chose to count).")
    paragraphs: list[int] = Field(description="Indexes of the paragraphs that hold it.")


class SourceShare(BaseModel):
    id: str
    title: str
    collection: str | None = Field(None, description="As in a match's source.")
    tags: dict[str, str] = {}
    copied_chars: int
    copy_ratio: float = Field(ge=0, le=1, description="Share of the report copied from it.")


class DocumentInfo(BaseModel):
    """How the checked text was read from the submitted file."""

    format: str = Field(description="The file's format: txt, md, docx, doc, wps, odt, rtf, pdf, "
                        "ofd, html, png, jpg...")
    parts: list[str] = Field(description="Parts of the document that gave text, of body, "
                             "tables, text boxes, headers, footers, footnotes, endnotes, "
                             "templates, annotations.")
    ocr: bool = Field(False, description="The text was recognised from images by OCR.")
    pages: int | None = Field(None, description="Pages, for formats that have them.")
    warnings: list[str] = Field(default_factory=list, description="What the reader had to "
                                "work around (a cut-off last character, OCR).")


class CheckResult(BaseModel):
    schema_version: int = SCHEMA_VERSION
    title: str | None = None
    chars: int = Field(description="Non-whitespace characters checked.")
    copied_chars: int
    copy_ratio: float = Field(ge=0, le=1, description="Share of the characters copied, after "
                              "exclusions; the verdict is taken on it.")
    raw_copied_chars: int
    raw_copy_ratio: float = Field(ge=0, le=1, description="The same before any exclusion.")
    excluded_chars: dict[ExclusionReason, int] = Field(
        default_factory=dict, description="Copied characters left out, by reason.")
    threshold: float = Field(ge=0, le=1)
    verdict: Literal["pass", "fail"] = Field(
        description="'fail' when copy_ratio is above the threshold.")
    min_match_chars: int
    paragraphs: list[Paragraph]
    sources: list[SourceShare]
    formulas: list[Formula] = Field(
        default_factory=list, description="Formulas found, apart from the copies: passages many "
        "references hold near-identically; left out of copy_ratio unless count_formulas.")
    document: DocumentInfo | None = Field(None, description="How the text was read from the "
                                          "submitted file (null for text sent as text).")


class ReportResult(BaseModel):
    id: str
    result: CheckResult


class Pair(BaseModel):
    report: str = Field(description="The report that contains the copied text.")
    source: str = Field(description="The other report of the batch it was copied from.")
    copied_chars: int
    copy_ratio: float = Field(ge=0, le=1, description="Share of `report` copied from `source`.")


class CrossResult(BaseModel):
    """A batch checked against the corpus and against each other."""

    reports: list[ReportResult]
    pairs: list[Pair] = Field(description="Who copied from whom within the batch, largest first.")
    warnings: list[str] = Field(default_factory=list, description="Files of the batch that were "
                                "not read (members of a .zip of a type chachong does not read).")
