"""What a reader returns, and what a caller may ask of the readers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import DocumentInfo
from .sandbox import Limits, MiB

# Reports of a few dozen pages are usual; a thousand is more than anyone writes, and keeps a
# hostile PDF of 10,000 empty pages from holding a worker.
MAX_PAGES = 1000
OCR_MAX_PAGES = 30  # OCR takes seconds a page


@dataclass
class Extracted:
    """A document's text (one paragraph a line) and how it was read.

    ``format``: the file's format (txt, docx, doc, pdf, ofd, html, png...); ``parts``: the parts
    of the document that gave text (body, tables, text boxes, headers, footers, footnotes,
    endnotes, templates, annotations); ``ocr``: the text was recognised from images;
    ``pages`` when the format has pages; ``warnings``: what the reader had to work around.
    """

    text: str
    format: str
    parts: list[str] = field(default_factory=lambda: ["body"])
    ocr: bool = False
    pages: int | None = None
    warnings: list[str] = field(default_factory=list)

    def info(self) -> DocumentInfo:
        return DocumentInfo(format=self.format, parts=self.parts, ocr=self.ocr,
                            pages=self.pages, warnings=self.warnings)


CONVERT_LIMITS = Limits(seconds=60, memory_bytes=1024 * MiB)
# onnxruntime and OpenCV reserve far more address space than they use
OCR_LIMITS = Limits(seconds=300, memory_bytes=4096 * MiB)


@dataclass(frozen=True)
class ReadOptions:
    """``ocr``: recognise the text of images and of PDFs without a text layer (slow)."""

    ocr: bool = False
    max_pages: int = MAX_PAGES
    ocr_max_pages: int = OCR_MAX_PAGES
    convert: Limits = CONVERT_LIMITS
    recognise: Limits = OCR_LIMITS


DEFAULTS = ReadOptions()
