"""Documents as offices have them (tests/formats/, made by LibreOffice, PDFium and an OFD
library from a dev report; see make_formats.py): each reads back to its source text, with every
part, and hostile files of each format get a clear error within their bounds."""

from __future__ import annotations

import gzip
import importlib.util
import io
import struct
import sys
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from rapidfuzz.distance import Levenshtein
from support import pdf_file

from app.core.errors import (
    ArchiveError,
    ConversionError,
    ConversionTimeoutError,
    DecodeError,
    NeedsOcrError,
    TooManyPagesError,
)
from app.core.readers import Extracted, ReadOptions, extract, extract_all
from app.core.readers.sandbox import Limits, MiB

FORMATS = Path(__file__).resolve().parent / "formats"
CONVERTED_CER = 0.005
OCR_CER = 0.03
BOUND = 30.0  # seconds: only a runaway converter breaks it


def _load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_formats", FORMATS / "make_formats.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_formats"] = module
    spec.loader.exec_module(module)
    return module


maker = _load_maker()
OCR = ReadOptions(ocr=True)


def _norm(text: str) -> str:
    """What a character error rate is counted on: NFKC (full- and half-width forms are one
    character to the checker too), without whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def cer(expected: str, got: str) -> float:
    a, b = _norm(expected), _norm(got)
    return Levenshtein.distance(a, b) / len(a)


PLAIN = ReadOptions()


def read(name: str, options: ReadOptions = PLAIN) -> Extracted:
    return extract((FORMATS / name).read_bytes(), name, options)


# --- converted formats: the whole document, every part ------------------------------------------

ALL_PARTS = ["body", "tables", "text boxes", "headers", "footers", "footnotes"]


@pytest.mark.parametrize("name", ["report.doc", "report.wps", "report.odt", "report.rtf",
                                  "report.docx"])
def test_office_formats_read_back_to_the_source(name: str) -> None:
    """LibreOffice's .doc, .odt and .rtf of the report (and the .doc under WPS's suffix) read to
    the source text with tables, text boxes, headers, footers and footnotes."""
    extracted = read(name)
    assert extracted.format == name.rsplit(".", 1)[1]
    assert extracted.parts == ALL_PARTS
    assert cer(maker.expected_text(), extracted.text) <= CONVERTED_CER
    lines = extracted.text.split("\n")
    assert lines[: maker.BODY_PARAGRAPHS] == maker.body_paragraphs()  # offsets of the body kept
    for part in ("tables", "text boxes", "headers", "footers", "footnotes"):
        for text in maker.PARTS[part]:
            assert text in lines, (part, text)


def test_web_page_is_its_article_without_navigation_or_scripts() -> None:
    extracted = read("report.html")
    assert extracted.format == "html"
    assert extracted.parts == ["body", "tables"]
    assert cer(maker.web_text(), extracted.text) <= CONVERTED_CER
    page = (FORMATS / "report.html").read_text(encoding="utf-8")
    for boilerplate in [*maker.SITE_NAV, *maker.SITE_LINKS, "广告位招租", "备案号", "_hmt"]:
        assert boilerplate in page
        assert boilerplate not in extracted.text, boilerplate


def test_web_page_in_gbk_declared_by_its_meta_tag() -> None:
    page = (FORMATS / "report.html").read_text(encoding="utf-8")
    gbk = page.replace('charset="utf-8"', 'charset="gbk"').encode("gbk", errors="ignore")
    assert extract(gbk, "report.htm").text == read("report.html").text


def _without_running_parts(text: str) -> str:
    """A fixed layout repeats running heads and feet on every page and puts footnotes at the
    page's foot: they are taken out before the body is compared in order."""
    flat = _norm(text)
    for part in ("headers", "footers", "footnotes"):
        for line in maker.PARTS[part]:
            flat = flat.replace(_norm(line), "")
    return flat


def _body_and_boxes() -> str:
    return "\n".join([*maker.body_paragraphs(), *maker.PARTS["tables"], maker.ANCHOR,
                      *maker.PARTS["text boxes"]])


def test_ofd_made_by_a_library_reads_back_to_the_source() -> None:
    extracted = read("report.ofd")
    assert (extracted.format, extracted.pages) == ("ofd", 2)
    assert cer(_body_and_boxes(), _without_running_parts(extracted.text)) <= CONVERTED_CER
    for part in ("headers", "footers", "footnotes"):
        assert all(_norm(t) in _norm(extracted.text) for t in maker.PARTS[part])


def test_ofd_sample_from_a_commercial_producer() -> None:
    """A real e-invoice: its printed labels are on a template page, its values on the page."""
    extracted = read("invoice-sample.ofd")
    assert extracted.parts == ["body", "templates"]
    assert extracted.pages == 1
    for text in ("江苏增值税电子普通发票", "购买方", "上海后衍品牌管理有限公司钟楼分公司",
                 "价税合计（大写）", "贰佰圆整"):
        assert text in extracted.text, text


# --- OCR ----------------------------------------------------------------------------------------

def _best_prefix_cer(expected: str, got: str) -> float:
    """CER against the part of the source the image shows (it starts at the top of page 1)."""
    a, b = _norm(expected), _norm(got)
    ends = range(max(1, len(b) - 80), min(len(a), len(b) + 80) + 1)
    return min(Levenshtein.distance(a[:end], b) / end for end in ends)


def test_scanned_pdf_is_read_by_ocr_when_asked() -> None:
    with pytest.raises(NeedsOcrError, match=r"scan\.pdf"):
        read("scan.pdf")
    extracted = read("scan.pdf", OCR)
    assert extracted.ocr and extracted.pages == 1 and extracted.format == "pdf"
    assert any("OCR" in w for w in extracted.warnings)
    assert _best_prefix_cer(maker.expected_text(), _without_running_parts(extracted.text)) \
        <= OCR_CER
    assert _norm(maker.PARTS["headers"][0]) in _norm(extracted.text)


def test_image_is_read_by_ocr_when_asked() -> None:
    with pytest.raises(NeedsOcrError, match=r"scan\.png"):
        read("scan.png")
    extracted = read("scan.png", OCR)
    assert extracted.ocr and extracted.format == "png"
    assert _best_prefix_cer(maker.expected_text(), _without_running_parts(extracted.text)) \
        <= OCR_CER
    assert len(_norm(extracted.text)) > 200


# --- zip archives -------------------------------------------------------------------------------

ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def _zip(members: dict[str, bytes], flag_utf8: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_zip_of_reports_reads_each_and_says_what_it_passed_over() -> None:
    text = "\n".join(maker.body_paragraphs())
    data = _zip({"二处/述职报告.docx": (FORMATS / "report.docx").read_bytes(),
                 "一处/report.txt": text.encode("gb18030"),
                 "__MACOSX/一处/._report.txt": b"\x00\x05\x16\x07",
                 "~$述职报告.docx": b"lock", "说明.xlsx": b"PK\x03\x04"})
    documents, warnings = extract_all(data, "批次.zip")
    assert [name for name, _ in documents] == ["批次.zip/二处/述职报告.docx",
                                                "批次.zip/一处/report.txt"]
    assert documents[0][1].parts == ALL_PARTS
    assert documents[1][1].text == text
    assert warnings == ["批次.zip/说明.xlsx: not read (files of type '.xlsx' are not supported)"]


def test_zip_member_names_written_by_chinese_windows_are_decoded() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("ab.txt", ZIP_DATE)  # ASCII: the UTF-8 flag stays off
        archive.writestr(info, "一行".encode())
    gbk = "报.txt".encode("gbk")
    assert len(gbk) == len(b"ab.txt")
    documents, _ = extract_all(out.getvalue().replace(b"ab.txt", gbk), "a.zip")
    assert documents[0][0] == "a.zip/报.txt"
    assert documents[0][1].text == "一行"


@pytest.mark.parametrize(("members", "message"), [
    ({"../../etc/cron.d/x.txt": b"a"}, "outside"),
    ({"/abs/report.txt": b"a"}, "outside"),
    ({"C:/report.txt": b"a"}, "outside"),
    ({"inner.zip": b"PK\x05\x06" + bytes(18)}, "archive inside"),
    ({"a.txt": b"a", "A.TXT": b"b"}, "twice"),
    ({"readme.xlsx": b"x"}, "no report"),
])
def test_hostile_zips_are_refused_naming_the_member(members: dict[str, bytes],
                                                    message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        extract_all(_zip(members), "reports.zip")


def test_zip_bomb_is_refused_before_it_is_expanded() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open(zipfile.ZipInfo("report.txt", ZIP_DATE), "w",
                         force_zip64=True) as member:
        for _ in range(300):
            member.write(b" " * MiB)
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="zip bomb"):
        extract_all(out.getvalue(), "reports.zip")
    assert time.perf_counter() - started < BOUND


def test_a_zip_is_not_one_report() -> None:
    with pytest.raises(Exception, match="batch"):
        extract(_zip({"a.txt": b"a"}), "reports.zip")


# --- hostile files of the other formats ---------------------------------------------------------

def test_doc_that_keeps_the_converter_busy_is_stopped_at_the_time_limit() -> None:
    """A .doc of a 3,000-row table takes LibreOffice several seconds; with 1.5 s it is stopped,
    and the error names the file."""
    data = gzip.decompress((FORMATS / "slow-table.doc.gz").read_bytes())
    limited = ReadOptions(convert=Limits(seconds=1.5, memory_bytes=1024 * MiB))
    started = time.perf_counter()
    with pytest.raises(ConversionTimeoutError, match=r"slow\.doc.*1\.5 s"):
        extract(data, "slow.doc", limited)
    assert time.perf_counter() - started < BOUND


def test_converter_that_crashes_is_a_clear_error() -> None:
    """LibreOffice cannot start in 300 MB of address space: it aborts, and the file is named."""
    starved = ReadOptions(convert=Limits(seconds=30, memory_bytes=300 * MiB))
    with pytest.raises(ConversionError, match=r"report\.doc: LibreOffice"):
        read("report.doc", starved)


def test_damaged_office_file_is_a_clear_error() -> None:
    data = (FORMATS / "report.doc").read_bytes()
    with pytest.raises(ConversionError, match=r"broken\.doc"):
        extract(data[:600] + bytes(4000), "broken.doc")


def _pdf_of_pages(count: int) -> bytes:
    """A PDF of ``count`` empty pages sharing one page object's content (small on disk)."""
    kids = " ".join(f"{n} 0 R" for n in range(3, count + 3))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + kids.encode() + b"] /Count %d >>" % count]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * count
    return pdf_file(objects)


def test_ten_thousand_page_pdf_is_refused_within_its_bound() -> None:
    data = _pdf_of_pages(10_000)
    started = time.perf_counter()
    with pytest.raises(TooManyPagesError, match=r"10000 pages, more than the 1000"):
        extract(data, "huge.pdf", OCR)
    with pytest.raises(TooManyPagesError, match=r"more than the 5 OCR reads"):
        extract(_pdf_of_pages(6), "six.pdf", ReadOptions(ocr=True, ocr_max_pages=5))
    assert time.perf_counter() - started < BOUND


def test_image_bomb_is_refused() -> None:
    """A PNG that declares 100,000 x 100,000 pixels in a few hundred bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8,
                                                             0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(DecodeError, match="too large"):
        extract(png, "bomb.png", OCR)


def test_ofd_bomb_and_entities_are_refused() -> None:
    sample = (FORMATS / "invoice-sample.ofd").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sample)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("Content.xml"):
                data += b" " * (80 * MiB)
            dst.writestr(info.filename, data)
    with pytest.raises(DecodeError, match="zip bomb"):
        extract(out.getvalue(), "bomb.ofd")
    entity = _zip({"OFD.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                              b'"file:///etc/passwd">]><ofd:OFD>&e;</ofd:OFD>'})
    with pytest.raises(DecodeError, match="entities"):
        extract(entity, "entity.ofd")


def test_deeply_nested_web_page_is_answered_within_its_bound() -> None:
    page = ("<html><body>" + "<div>" * 100_000 + "<p>正文一段</p>" + "</div>" * 100_000
            + "</body></html>").encode()
    started = time.perf_counter()
    try:
        extract(page, "nested.html")
    except DecodeError:
        pass
    except Exception as exc:  # the empty-article answer is a clear error as well
        assert getattr(exc, "code", None) == "empty_text", exc
    assert time.perf_counter() - started < BOUND
