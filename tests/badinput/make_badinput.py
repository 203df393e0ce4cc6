#!/usr/bin/env python3
"""The bad-input corpus of tests/test_robustness.py: files a careless or hostile client may send.

    python tests/badinput/make_badinput.py               # (re)write the small committed files
    python tests/badinput/make_badinput.py --large DIR   # also write the big ones into DIR

The small files are committed beside this script; the big ones (a 50 MB body, a 1 MB line, 100,000
one-character lines, a zip bomb) are made at test time by ``make_large``. Every file is built
deterministically (seeded bytes, fixed zip timestamps), so running the script again rewrites the
same bytes, and the tests check that it does.

Real text comes from the repository's own reference corpus (the template ``jianshe-ju``) and, for
the big files, from the dev cases in ``tests/fixtures/dev/cases`` (real report text).
Each case names what the API must answer: an HTTP status with its error code, or, for a file the
reader can decode, 200 with the template found in it.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEMPLATE_FILE = ROOT / "reference_corpus" / "jianshe-ju.txt"
TEMPLATE_ID = "jianshe-ju"
DEV_CASES = ROOT / "tests" / "fixtures" / "dev" / "cases"

MB = 1_000_000
LARGE_BODY = 50 * 1024 * 1024  # over the 10 MiB default of CHACHONG_MAX_BODY_BYTES
NESTING = 5_000
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def template_paragraph() -> str:
    """The first paragraph of 150+ characters of the template (a real boilerplate paragraph)."""
    lines = TEMPLATE_FILE.read_text(encoding="utf-8").split("\n")
    return next(line for line in lines if len(line) >= 150)


@dataclass(frozen=True)
class Case:
    """One bad input: the file, how it is sent, and what the API must answer.

    ``send`` is "upload" (multipart field ``file`` named like the file) or "json" (the bytes as an
    application/json body). ``statuses`` lists the acceptable statuses; ``code`` is the error code
    of a 4xx answer (or a tuple of the acceptable ones); ``finds`` the reference a 200 answer must
    report, and ``text`` the report text it was computed on (what the client meant to send).
    """

    name: str
    build: Callable[[], bytes]
    send: str
    statuses: tuple[int, ...]
    code: str | tuple[str, ...] | None = None
    finds: str | None = None
    text: Callable[[], str] | None = None  # the report text a 200 answer is about


# --- builders of the small files ---------------------------------------------------------------

def _paragraph_bytes(codec: str, bom: bytes = b"") -> Callable[[], bytes]:
    return lambda: bom + template_paragraph().encode(codec)


def _garbage() -> bytes:
    data = bytearray(random.Random(20240601).randbytes(4096))
    data[100] = 0  # a binary file has NUL bytes near the start
    return bytes(data)


def _invalid_utf8() -> bytes:
    """UTF-8 text broken by bytes that never occur in UTF-8 (and no byte-order mark)."""
    raw = template_paragraph().encode("utf-8")
    return raw[:30] + b"\xff\xc3\x28" + raw[30:90] + b"\x80\xfe" + raw[90:]


def _marks() -> bytes:
    """NUL bytes, zero-width characters and bidirectional marks between the words."""
    marks = ["\x00", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f",
             "\u202e", "\u202c", "\u2066", "\u2069"]
    text = template_paragraph()
    out = [ch + marks[i % len(marks)] if i % 7 == 3 else ch for i, ch in enumerate(text)]
    return "".join(out).encode("utf-8")


SCRIPT = "<script>alert('x')</script>"
CONTROLS = "\x01\x07\x08\x0b\x1b[31m\x7f\x85\x9b"


def script_text() -> str:
    """Markup and control characters around and inside a copied paragraph."""
    p = template_paragraph()
    return (f"{SCRIPT}{CONTROLS}\n{p[:60]}<img src=x onerror=alert(1)>{CONTROLS}{p[60:]}\n"
            f"\"'&amp;</textarea></title>{SCRIPT}")


def _script() -> bytes:
    return script_text().encode("utf-8")


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


_CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package'
                  b'.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                  b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxml'
                  b'formats-officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         b'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _document_xml(body: bytes, doctype: bytes = b"") -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + doctype
            + b"<w:document " + _W + b"><w:body><w:p><w:r><w:t>" + body
            + b"</w:t></w:r></w:p></w:body></w:document>")


def _xxe_docx() -> bytes:
    """A Word package whose document declares an external entity reading a local file."""
    doctype = (b'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
               b'<!ENTITY remote SYSTEM "http://127.0.0.1:9/x">]>\n')
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS,
                 "word/document.xml": _document_xml(b"&xxe;&remote;", doctype)})


def _billion_laughs_docx() -> bytes:
    """Entity expansion (billion laughs) inside the document part."""
    entities = b'<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10))
    doctype = b"<!DOCTYPE w:document [" + entities + b"]>\n"
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS,
                 "word/document.xml": _document_xml(b"&lol9;", doctype)})


def _not_a_zip() -> bytes:
    return b"PK\x03\x04 this is not a zip archive, only its first four bytes are " + bytes(64)


def _zip_without_document() -> bytes:
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "readme.txt": b"not a Word document"})


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _good_docx() -> bytes:
    return _zip({"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS,
                 "word/document.xml": _document_xml(template_paragraph().encode("utf-8") * 3)})


def _member_offset(data: bytes, name: str) -> tuple[int, zipfile.ZipInfo]:
    """Where the compressed bytes of a member start, and its directory entry."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    extra = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + sum(extra), info


def _corrupt_member_docx() -> bytes:
    """A well-formed archive whose document part has damaged deflate data (a broken download)."""
    data = bytearray(_good_docx())
    start, info = _member_offset(bytes(data), "word/document.xml")
    data[start + info.compress_size // 2] ^= 0xFF
    return bytes(data)


def _lying_size_docx() -> bytes:
    """The central directory understates the document part's size (its CRC then fails)."""
    data = bytearray(_good_docx())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        length = struct.unpack("<H", data[pos + 28 : pos + 30])[0]
        if data[pos + 46 : pos + 46 + length] == b"word/document.xml":
            data[pos + 24 : pos + 28] = struct.pack("<I", 100)
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


def _scanned_pdf() -> bytes:
    """One page that only draws a filled rectangle: what a scan without OCR looks like."""
    content = b"0.5 g 50 50 495 742 re f"
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ])


def _broken_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << >>\n%%EOF"


def _json(text: str) -> Callable[[], bytes]:
    return lambda: text.encode("utf-8")


def _nested_array() -> bytes:
    return b"[" * NESTING + b"]" * NESTING


def _nested_object() -> bytes:
    return b'{"text": ' + b'{"a":' * NESTING + b"1" + b"}" * NESTING + b"}"


def _json_script() -> bytes:
    import json

    return json.dumps({"text": script_text(), "title": SCRIPT + CONTROLS},
                      ensure_ascii=False).encode("utf-8")


def _json_with(**fields: object) -> Callable[[], bytes]:
    import json

    return lambda: json.dumps({"text": template_paragraph(), **fields}).encode("utf-8")


def _json_invalid_utf8() -> bytes:
    return b'{"text": "' + _invalid_utf8() + b'"}'


UPLOAD_OK = (200,)
SMALL: list[Case] = [
    # uploads: empty, garbage, every encoding an editor writes, marks, markup, broken documents
    Case("empty.txt", lambda: b"", "upload", (422,), "empty_text"),
    Case("whitespace-only.txt", " \t\r\n\u3000\u00a0\n\n".encode, "upload", (422,),
         "empty_text"),
    Case("binary-garbage.txt", _garbage, "upload", (422,), "undecodable"),
    Case("binary-garbage.exe", _garbage, "upload", (415,), "unsupported_format"),
    # UTF-8 broken in the middle is refused: read in another encoding it would be mojibake
    Case("invalid-utf8.txt", _invalid_utf8, "upload", (422,), "undecodable"),
    Case("utf16le-bom.txt", _paragraph_bytes("utf-16-le", b"\xff\xfe"), "upload", UPLOAD_OK,
         finds=TEMPLATE_ID, text=template_paragraph),
    Case("utf16be-bom.txt", _paragraph_bytes("utf-16-be", b"\xfe\xff"), "upload", UPLOAD_OK,
         finds=TEMPLATE_ID, text=template_paragraph),
    Case("utf16le-no-bom.txt", _paragraph_bytes("utf-16-le"), "upload", UPLOAD_OK,
         finds=TEMPLATE_ID, text=template_paragraph),
    Case("utf16be-no-bom.txt", _paragraph_bytes("utf-16-be"), "upload", UPLOAD_OK,
         finds=TEMPLATE_ID, text=template_paragraph),
    Case("gb18030.txt", _paragraph_bytes("gb18030"), "upload", UPLOAD_OK, finds=TEMPLATE_ID,
         text=template_paragraph),
    Case("nul-zero-width-rtl.txt", _marks, "upload", UPLOAD_OK, finds=TEMPLATE_ID,
         text=lambda: _marks().decode("utf-8")),
    Case("script-and-controls.txt", _script, "upload", UPLOAD_OK, finds=TEMPLATE_ID,
         text=script_text),
    Case("not-a-zip.docx", _not_a_zip, "upload", (422,), "undecodable"),
    Case("xxe.docx", _xxe_docx, "upload", (422,), "undecodable"),
    Case("billion-laughs.docx", _billion_laughs_docx, "upload", (422,), "undecodable"),
    Case("corrupt-member.docx", _corrupt_member_docx, "upload", (422,), "undecodable"),
    Case("lying-size.docx", _lying_size_docx, "upload", (422,), "undecodable"),
    Case("zip-without-document.docx", _zip_without_document, "upload", (422,), "undecodable"),
    Case("no-text-layer.pdf", _scanned_pdf, "upload", (422,), "needs_ocr"),
    Case("broken.pdf", _broken_pdf, "upload", (422,), "undecodable"),
    # JSON bodies
    Case("text-empty.json", _json('{"text": ""}'), "json", (422,),
         ("invalid_request", "empty_text")),
    # whitespace only: refused as empty, as the whitespace-only upload is
    Case("text-whitespace-only.json", _json('{"text": " \\n\\t\\u3000 "}'), "json", (422,),
         "empty_text"),
    Case("text-not-a-string.json", _json('{"text": 12345}'), "json", (422,), "invalid_request"),
    Case("text-missing.json", _json('{"title": "x"}'), "json", (422,), "invalid_request"),
    Case("not-an-object.json", _json('["text", 1]'), "json", (422,), "invalid_request"),
    Case("truncated.json", _json('{"text": "根据会议安排'), "json", (400,), "invalid_json"),
    Case("invalid-utf8.json", _json_invalid_utf8, "json", (400,), "invalid_json"),
    Case("nested-array.json", _nested_array, "json", (400,), "invalid_json"),
    Case("nested-object.json", _nested_object, "json", (400,), "invalid_json"),
    Case("threshold-huge.json", _json_with(threshold=1e308), "json", (422,), "invalid_request"),
    Case("threshold-negative.json", _json_with(threshold=-0.5), "json", (422,),
         "invalid_request"),
    Case("threshold-nan.json", lambda: _json_with()()[:-1] + b', "threshold": NaN}', "json",
         (422,), "invalid_request"),
    Case("threshold-infinity.json", lambda: _json_with()()[:-1] + b', "threshold": -Infinity}',
         "json", (422,), "invalid_request"),
    Case("threshold-string.json", _json_with(threshold="0.3; DROP TABLE refs"), "json", (422,),
         "invalid_request"),
    Case("min-match-huge.json", _json_with(min_match_chars=10**30), "json", (422,),
         "invalid_request"),
    Case("min-match-negative.json", _json_with(min_match_chars=-13), "json", (422,),
         "invalid_request"),
    Case("script-and-controls.json", _json_script, "json", UPLOAD_OK, finds=TEMPLATE_ID,
         text=script_text),
]


# --- the big files, made at test time ------------------------------------------------------------

def real_text() -> str:
    """Real report text: every dev case (host reports with copied template passages)."""
    files = sorted(DEV_CASES.glob("*.txt"))
    assert files, f"{DEV_CASES} holds no dev cases"
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def _no_punctuation(text: str) -> str:
    return re.sub(r"[\W_]+", "", text)


def one_line(text: str, size: int = MB) -> bytes:
    """``text`` without punctuation or line breaks, repeated or cut to ``size`` UTF-8 bytes."""
    flat = _no_punctuation(text)
    data = (flat * (size // len(flat.encode()) + 1)).encode("utf-8")[:size]
    return data.decode("utf-8", errors="ignore").encode("utf-8")


def one_char_lines(text: str, count: int = 100_000) -> bytes:
    chars = _no_punctuation(text)
    chars = chars * (count // len(chars) + 1)
    return "\n".join(chars[:count]).encode("utf-8")


def zip_bomb() -> bytes:
    """A .docx of ~100 KB whose document part expands to 100 MiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(zipfile.ZipInfo("[Content_Types].xml", ZIP_DATE), _CONTENT_TYPES,
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("_rels/.rels", ZIP_DATE), _RELS,
                         compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("word/document.xml", ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(_document_xml(b"")[:-len(b"</w:t></w:r></w:p></w:body></w:document>")])
            block = b"\x20" * (1024 * 1024)
            for _ in range(100):
                member.write(block)
            member.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


LARGE: dict[str, Callable[[], bytes]] = {
    "body-50mb.txt": lambda: template_paragraph().encode("utf-8") * (
        LARGE_BODY // len(template_paragraph().encode("utf-8")) + 1),
    "line-1mb.txt": lambda: one_line(real_text()),
    "line-1mb-one-sentence.txt": lambda: one_line(template_paragraph()[:40]),
    "lines-100k-one-char.txt": lambda: one_char_lines(real_text()),
    "lines-100k-one-sentence.txt": lambda: one_char_lines(template_paragraph()[:40]),
    "zip-bomb.docx": zip_bomb,
}


def make_small(folder: Path = HERE) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in SMALL:
        path = folder / case.name
        path.write_bytes(case.build())
        written.append(path)
    return written


def make_large(folder: Path, names: list[str] | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in names or list(LARGE):
        path = folder / name
        path.write_bytes(LARGE[name]())
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large", type=Path, help="also write the big files into this folder")
    args = ap.parse_args(argv)
    for path in make_small():
        print(f"{path.stat().st_size:>9}  {path.relative_to(ROOT)}")
    if args.large:
        for path in make_large(args.large).values():
            print(f"{path.stat().st_size:>9}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
