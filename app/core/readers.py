"""Turn a submitted file's bytes into text: plain text in any common encoding, .docx and .pdf.

Encodings are detected with charset-normalizer after the byte-order marks, never guessed by
trying codecs in turn. Word files are read with python-docx after checking the archive, so a zip
bomb or an external-entity trick is refused before any XML is parsed.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import PurePath

from charset_normalizer import from_bytes

from .errors import DecodeError, EmptyTextError, UnsupportedFormatError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text", ".markdown", ""})
DOCX_SUFFIX = ".docx"
PDF_SUFFIX = ".pdf"
SUPPORTED = sorted(TEXT_SUFFIXES - {""} | {DOCX_SUFFIX, PDF_SUFFIX})

MAX_DOCX_UNCOMPRESSED = 64 * 1024 * 1024
MAX_DOCX_RATIO = 200  # deflate rarely beats ~20:1 on real XML; 200:1 is a bomb

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# charset-normalizer names that we widen to their superset (GBK text is valid GB18030)
_WIDEN = {"gb2312": "gb18030", "gbk": "gb18030", "ascii": "utf-8"}


def decode_text(data: bytes, name: str = "input") -> str:
    """Decode plain-text bytes; raise DecodeError naming the file when no encoding fits."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise DecodeError(f"{name}: starts with a {codec} byte-order mark but is not "
                                  f"valid {codec} ({exc.reason}); save it again as UTF-8") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096] and not _looks_utf16(data):
        raise DecodeError(f"{name}: looks like a binary file, not text; submit .txt, .md, "
                          ".docx or .pdf")
    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise DecodeError(f"{name}: the text encoding could not be recognised; save the file "
                          "as UTF-8 and try again")
    codec = _WIDEN.get(best.encoding, best.encoding)
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DecodeError(f"{name}: could not be decoded as {codec}; save it as UTF-8") from exc


def _looks_utf16(data: bytes) -> bool:
    """BOM-less UTF-16: NUL bytes sit at every other position of mostly-ASCII/CJK text."""
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return False
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = head.decode(codec)
        except UnicodeDecodeError:
            continue
        if text and sum(ch.isprintable() or ch.isspace() for ch in text) / len(text) > 0.95:
            return True
    return False


def read_docx(data: bytes, name: str = "input.docx") -> str:
    """Paragraph text of a Word document, one paragraph a line (tables included)."""
    _check_zip(data, name)
    import docx  # python-docx; imported here so plain-text users never pay for lxml

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for a broken package
        raise DecodeError(f"{name}: not a readable Word (.docx) document ({exc}); open it in "
                          "Word or WPS and save it again as .docx") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.extend(cell.text for cell in row.cells)
    return "\n".join(lines)


def _check_zip(data: bytes, name: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DecodeError(f"{name}: not a .docx file (it is not a zip archive); save it as "
                          ".docx, or submit it as .txt") from exc
    with archive:
        total = sum(info.file_size for info in archive.infolist())
        packed = sum(info.compress_size for info in archive.infolist()) or 1
        if total > MAX_DOCX_UNCOMPRESSED or total / packed > MAX_DOCX_RATIO:
            raise DecodeError(f"{name}: the .docx expands to {total} bytes, more than a report "
                              "can hold; it is refused as a possible zip bomb")
        if "word/document.xml" not in archive.namelist():
            raise DecodeError(f"{name}: a zip archive without word/document.xml is not a "
                              "Word document")
        for member in archive.namelist():
            if member.endswith(".xml") or member.endswith(".rels"):
                try:
                    head = archive.read(member)[:4096].upper()
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                    raise DecodeError(f"{name}: the .docx is damaged ({member}: {exc}); save it "
                                      "again from Word or WPS") from exc
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise DecodeError(f"{name}: {member} declares XML entities, which Word never "
                                      "writes; the file is refused")


def read_pdf(data: bytes, name: str = "input.pdf") -> str:
    """Text layer of a PDF; a scanned PDF without one is refused with advice."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"{name}: not a readable PDF ({exc})") from exc
    if not text.strip():
        raise EmptyTextError(f"{name}: the PDF has no text layer (a scan?); run OCR on it or "
                             "submit the original .docx or .txt")
    return text


def read_document(data: bytes, name: str) -> str:
    """Text of a submitted file, chosen by its suffix (.txt/.md/no suffix, .docx, .pdf)."""
    suffix = PurePath(name).suffix.lower()
    if suffix == DOCX_SUFFIX:
        text = read_docx(data, name)
    elif suffix == PDF_SUFFIX:
        text = read_pdf(data, name)
    elif suffix in TEXT_SUFFIXES:
        text = decode_text(data, name)
    else:
        raise UnsupportedFormatError(f"{name}: files of type '{suffix}' are not supported; "
                                     f"use one of {', '.join(SUPPORTED)}")
    return text


def require_text(text: str, name: str) -> str:
    """Refuse a document with nothing to check in it."""
    if not text.strip():
        raise EmptyTextError(f"{name}: the document is empty; there is nothing to check")
    return text
