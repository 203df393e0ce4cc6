"""Turn a submitted file's bytes into text, chosen by its suffix (and, for office files, by what
the bytes are).

| suffix | reader | needs |
| --- | --- | --- |
| .txt .md (none) | ``text``: any common encoding | |
| .docx | ``wordml``: body, tables, text boxes, headers, footers, notes | |
| .doc .wps .odt .rtf | ``office``: LibreOffice to .docx, then ``wordml`` | LibreOffice |
| .pdf | ``pdf``: the text layer; OCR for a scan when asked | OCR: rapidocr |
| .ofd | ``ofd``: the text objects of its pages, templates and annotations | |
| .html .htm | ``webpage``: the main text, without navigation and scripts | |
| .png .jpg .jpeg | ``ocr``, when asked | rapidocr |
| .zip | ``archive``: each member, read as above | |

Every reader gives an ``Extracted``: the text, one paragraph a line, and how it was read.
Converters run bounded and sandboxed (``sandbox``); zip containers and XML are opened with the
checks of ``safezip``.
"""

from __future__ import annotations

from pathlib import PurePath

from ..errors import EmptyTextError, NeedsOcrError, UnsupportedFormatError
from .document import DEFAULTS, Extracted, ReadOptions
from .text import decode_text, read_text

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text", ".markdown", ""})
DOCX_SUFFIX = ".docx"
PDF_SUFFIX = ".pdf"
OFFICE_SUFFIXES = frozenset({".doc", ".wps", ".odt", ".rtf"})
OFD_SUFFIX = ".ofd"
HTML_SUFFIXES = frozenset({".html", ".htm"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
ARCHIVE_SUFFIX = ".zip"
DOCUMENT_SUFFIXES = (TEXT_SUFFIXES - {""} | {DOCX_SUFFIX, PDF_SUFFIX, OFD_SUFFIX}
                     | OFFICE_SUFFIXES | HTML_SUFFIXES | IMAGE_SUFFIXES)
SUPPORTED = sorted(DOCUMENT_SUFFIXES)  # a document each
REFERENCE_SUFFIXES = sorted(DOCUMENT_SUFFIXES - IMAGE_SUFFIXES)  # a corpus folder is not OCRed
REPORT_SUFFIXES = sorted(DOCUMENT_SUFFIXES | {ARCHIVE_SUFFIX})  # reports may come zipped

__all__ = [
    "ARCHIVE_SUFFIX",
    "REFERENCE_SUFFIXES",
    "REPORT_SUFFIXES",
    "SUPPORTED",
    "Extracted",
    "ReadOptions",
    "decode_text",
    "extract",
    "extract_all",
    "is_archive",
    "read_document",
    "require_text",
]


def is_archive(name: str) -> bool:
    return PurePath(name).suffix.lower() == ARCHIVE_SUFFIX


def extract(data: bytes, name: str, options: ReadOptions = DEFAULTS) -> Extracted:
    """The text of one document and how it was read; the reader is chosen by the suffix."""
    suffix = PurePath(name).suffix.lower()
    fmt = suffix.lstrip(".") or "txt"
    # the readers of converted and optional formats are imported when first needed
    if suffix in TEXT_SUFFIXES:
        return read_text(data, name, fmt)
    if suffix == DOCX_SUFFIX:
        from .wordml import read_docx

        return read_docx(data, name)
    if suffix == PDF_SUFFIX:
        from .pdf import read_pdf

        return read_pdf(data, name, options)
    if suffix in OFFICE_SUFFIXES:
        from .office import read_office

        return read_office(data, name, suffix, options)
    return _read_other(data, name, suffix, fmt, options)


def _read_other(data: bytes, name: str, suffix: str, fmt: str,
                options: ReadOptions) -> Extracted:
    if suffix == OFD_SUFFIX:
        from .ofd import read_ofd

        return read_ofd(data, name, options)
    if suffix in HTML_SUFFIXES:
        from .webpage import read_webpage

        return read_webpage(data, name)
    if suffix in IMAGE_SUFFIXES:
        if not options.ocr:
            raise NeedsOcrError(f"{name}: an image holds no text to read without OCR; check it "
                                "again with OCR turned on (ocr=true, or --ocr)")
        from .ocr import recognise

        return recognise(data, name, fmt, options)
    if suffix == ARCHIVE_SUFFIX:
        raise UnsupportedFormatError(f"{name}: a .zip holds several reports; check it as a "
                                     "batch (chachong check, or POST /v1/check/batch)")
    raise UnsupportedFormatError(f"{name}: files of type '{suffix}' are not supported; "
                                 f"use one of {', '.join(REPORT_SUFFIXES)}")


def extract_all(data: bytes, name: str, options: ReadOptions = DEFAULTS
                ) -> tuple[list[tuple[str, Extracted]], list[str]]:
    """Every document of a file: the file itself, or each member of a .zip (named
    ``archive.zip/path/in/it``); and the warnings about members passed over."""
    if not is_archive(name):
        return [(name, extract(data, name, options))], []
    from .archive import read_archive

    members, warnings = read_archive(data, name, options, extract, frozenset(DOCUMENT_SUFFIXES))
    return [(f"{name}/{path}", extracted) for path, extracted in members], warnings


def read_document(data: bytes, name: str, options: ReadOptions = DEFAULTS) -> str:
    """Text of a submitted file (see ``extract`` for how it was read)."""
    return extract(data, name, options).text


def require_text(text: str, name: str) -> str:
    """Refuse a document with nothing to check in it."""
    if not text.strip():
        raise EmptyTextError(f"{name}: the document is empty; there is nothing to check")
    return text
