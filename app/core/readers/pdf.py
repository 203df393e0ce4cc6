"""PDF: the text layer (pypdf), or, for a scan without one, OCR when it was asked for."""

from __future__ import annotations

import io

from ..errors import DecodeError, NeedsOcrError, TooManyPagesError
from .document import DEFAULTS, Extracted, ReadOptions


def page_count_error(name: str, pages: int, limit: int, what: str) -> TooManyPagesError:
    return TooManyPagesError(f"{name}: the PDF has {pages} pages, more than the {limit} "
                             f"{what}; split it, or submit the report itself")


def read_pdf(data: bytes, name: str = "input.pdf",
             options: ReadOptions = DEFAULTS) -> Extracted:
    """Text layer of a PDF, page after page; a scan goes to OCR when ``options.ocr``."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PdfStreamError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = len(reader.pages)
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:
        raise DecodeError(f"{name}: not a readable PDF ({exc})") from exc
    if pages > options.max_pages:
        raise page_count_error(name, pages, options.max_pages, "a report is read to")
    try:
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError, AttributeError,
            RecursionError) as exc:
        raise DecodeError(f"{name}: not a readable PDF ({exc})") from exc
    if text.strip():
        return Extracted(text, "pdf", pages=pages)
    if not options.ocr:
        raise NeedsOcrError(f"{name}: the PDF has no text layer (a scan?); check it again with "
                            "OCR turned on (ocr=true, or --ocr), or submit the original "
                            ".docx or .txt")
    from .ocr import recognise

    return recognise(data, name, "pdf", options)
