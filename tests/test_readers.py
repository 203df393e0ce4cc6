"""Reading submitted files: every common encoding, Word documents, and refusals with a reason."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from support import ENCODINGS, case_text, write_docx

from app.core import CheckResult, read_document, require_text
from app.core.errors import DecodeError, EmptyTextError, UnsupportedFormatError
from app.core.readers import extract

REPORT = "case-000.txt"  # real host text with three copied template passages

@pytest.mark.parametrize("encode", ENCODINGS)
def test_encodings_read_back_to_the_same_text(encode: Callable[[str], bytes],
                                              check: Callable[..., CheckResult]) -> None:
    """Every encoding an editor may save a report in decodes to the same text and result."""
    text = case_text(REPORT)
    decoded = read_document(encode(text), REPORT)
    assert decoded == text
    assert check(decoded) == check(text)


def test_docx_gives_the_same_matches_as_its_txt(tmp_path: Path,
                                                check: Callable[..., CheckResult]) -> None:
    """A .docx of the report reads to the same text, so every match is the same."""
    text = case_text(REPORT)
    path = write_docx(tmp_path / "report.docx", text)
    from_docx = read_document(path.read_bytes(), path.name)
    assert from_docx == text
    result = check(from_docx)
    assert result.copied_chars > 0
    assert result == check(text)


def test_docx_tables_are_read(tmp_path: Path) -> None:
    """Text in a Word table is checked too (templates are sometimes pasted into tables)."""
    document = docx.Document()
    document.add_paragraph("正文")
    cell_text = "持续推进“两学一做”学习教育常态化制度化"
    document.add_table(rows=1, cols=1).rows[0].cells[0].text = cell_text
    path = tmp_path / "table.docx"
    document.save(str(path))
    assert cell_text in read_document(path.read_bytes(), path.name)


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "REPORT.DOCX", "一行")
    assert read_document(path.read_bytes(), path.name) == "一行"
    assert read_document("一行".encode("gb18030") * 20, "REPORT.TXT") == "一行" * 20


def test_broken_docx_is_a_decode_error_naming_the_file() -> None:
    """A .docx that is not a zip archive is refused, and the message says which file."""
    with pytest.raises(DecodeError, match=re.escape("述职报告.docx")):
        read_document(case_text(REPORT).encode("utf-8"), "述职报告.docx")


def _rezip(data: bytes, edit: Callable[[str, bytes], bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, edit(info.filename, src.read(info.filename)))
    return out.getvalue()


def test_zip_without_document_xml_is_refused(tmp_path: Path) -> None:
    data = write_docx(tmp_path / "a.docx", "一行").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info.filename, src.read(info.filename))
    with pytest.raises(DecodeError, match=re.escape("word/document.xml")):
        read_document(out.getvalue(), "a.docx")


def test_docx_declaring_xml_entities_is_refused(tmp_path: Path) -> None:
    """An entity declaration (the XXE / billion-laughs trick) is refused before parsing."""
    data = write_docx(tmp_path / "a.docx", "一行").read_bytes()

    def add_doctype(name: str, body: bytes) -> bytes:
        if name != "word/document.xml":
            return body
        decl, rest = body.split(b"?>", 1)
        return decl + b'?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + rest

    with pytest.raises(DecodeError, match="entities"):
        read_document(_rezip(data, add_doctype), "a.docx")


def test_docx_zip_bomb_is_refused(tmp_path: Path) -> None:
    """A member that inflates far beyond real XML ratios is refused as a zip bomb."""
    data = write_docx(tmp_path / "a.docx", "一行").read_bytes()

    def inflate(name: str, body: bytes) -> bytes:
        return body + b" " * 30_000_000 if name == "word/document.xml" else body

    with pytest.raises(DecodeError, match="zip bomb"):
        read_document(_rezip(data, inflate), "a.docx")


@pytest.mark.parametrize("name", ["report.xlsx", "report.pptx", "report.exe"])
def test_unsupported_suffix(name: str) -> None:
    with pytest.raises(UnsupportedFormatError, match=re.escape(name)):
        read_document(b"x", name)


def test_binary_text_file_is_refused() -> None:
    with pytest.raises(DecodeError, match="binary"):
        read_document(b"\x00\x01\x02\x03\x00\x00\xff\xfe\x00" * 50, "report.txt")


def test_byte_order_mark_with_invalid_body_is_refused() -> None:
    with pytest.raises(DecodeError, match=re.escape("report.txt")):
        read_document(b"\xef\xbb\xbf" + "述职".encode("gb18030"), "report.txt")


def test_broken_pdf_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match=re.escape("report.pdf")):
        read_document(b"%PDF-1.4\nnot really a pdf", "report.pdf")


@pytest.mark.parametrize("text", ["", " \n\t", "\u3000\u3000\r\n"], ids=["empty", "spaces", "ideo"])
def test_require_text_refuses_blank_documents(text: str) -> None:
    with pytest.raises(EmptyTextError, match=re.escape("report.txt")):
        require_text(text, "report.txt")


@pytest.mark.parametrize("codec", ["utf-8", "gb18030", "utf-16-le", "utf-16"])
def test_last_character_cut_in_half_is_dropped_with_a_warning(codec: str) -> None:
    """A truncated download ends inside a character: the rest is read, that character is
    dropped, and a warning says so (for every multi-byte encoding reports come in)."""
    text = case_text(REPORT)
    data = text.encode(codec)
    width = len(text[-1].encode("utf-16-le" if codec.startswith("utf-16") else codec))
    for cut in range(1, width):
        extracted = extract(data[:-cut], "下载.txt")
        assert extracted.text == text[:-1], (codec, cut)
        assert len(extracted.warnings) == 1
        assert "下载.txt" in extracted.warnings[0] and "dropped" in extracted.warnings[0]
    whole = extract(data[:-width], "下载.txt")  # a whole character missing: nothing to say
    assert (whole.text, whole.warnings) == (text[:-1], [])


def test_broken_middle_is_still_refused_though_the_end_is_whole() -> None:
    data = case_text(REPORT).encode("utf-8")
    with pytest.raises(DecodeError, match="encoding could not be recognised"):
        read_document(data[:100] + b"\xff\xfe\x80" + data[100:-1], "report.txt")
