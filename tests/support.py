"""Real data for the tests, read independently of the code under test.

Templates come straight from ``reference_corpus/`` as UTF-8 files, host text from the dev cases
(``case-001.txt`` has no copied spans) and from the provincial reports (read with python-docx, not
with the checker's reader), truth from ``dev/truth.jsonl``; all of it under ``tests/fixtures/``
(see its README), so every path is computed from this file.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import docx
import pytest

from app.core import CheckResult

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS_DIR = ROOT / "reference_corpus"
DEV = FIXTURES / "dev"
CASES = DEV / "cases"
TRUTH = DEV / "truth.jsonl"
PROVINCIAL = FIXTURES / "provincial-2025"
GOLDEN = Path(__file__).resolve().parent / "golden"

TEMPLATE_IDS = ("gongshang-ju", "jianshe-ju", "jiguan-gongwei", "jituan-gongsi", "minzheng-ju")
ORIGINAL_CASE = "case-001.txt"  # truth.jsonl lists no copied span for it

_SENTENCE = re.compile(r"[^。！？；\n]+[。！？；]+[”’」』）)]*")


@cache
def template(ref_id: str) -> str:
    return (CORPUS_DIR / f"{ref_id}.txt").read_text(encoding="utf-8")


def template_paragraph(ref_id: str, prefix: str) -> str:
    """The one line of a template that starts with ``prefix``."""
    found = [line for line in template(ref_id).split("\n") if line.startswith(prefix)]
    assert len(found) == 1, f"{ref_id}: {len(found)} lines start with {prefix!r}"
    return found[0]


@cache
def case_text(name: str) -> str:
    return (CASES / name).read_text(encoding="utf-8")


@cache
def truth() -> dict[str, dict]:
    rows = (json.loads(line) for line in TRUTH.read_text(encoding="utf-8").splitlines())
    return {row["case"]: row for row in rows}


@cache
def provincial_text(name: str) -> str:
    """A provincial report's paragraphs, one a line, as python-docx reads them."""
    document = docx.Document(str(PROVINCIAL / f"{name}.docx"))
    return "\n".join(p.text for p in document.paragraphs)


def provincial_paragraph(name: str, prefix: str) -> str:
    found = [line.strip() for line in provincial_text(name).split("\n")
             if line.strip().startswith(prefix)]
    assert len(found) == 1, f"{name}: {len(found)} paragraphs start with {prefix!r}"
    return found[0]


def sentences(text: str) -> list[str]:
    """Sentences ending in 。！？； (with closing quotes), by a regex of our own."""
    return _SENTENCE.findall(text)


@cache
def host_paragraphs() -> tuple[str, ...]:
    """Original (never copied) paragraphs of real reports, 40 characters or longer."""
    lines = case_text(ORIGINAL_CASE).split("\n") + provincial_text("2025-浙江省").split("\n")
    return tuple(line.strip() for line in lines if len(line.strip()) >= 40)


@cache
def host_sentences() -> tuple[str, ...]:
    return tuple(s for para in host_paragraphs() for s in sentences(para) if len(s) >= 8)


@cache
def template_sentences() -> tuple[tuple[str, str], ...]:
    """(template id, sentence) for every template sentence of 12 characters or more."""
    return tuple((ref_id, s) for ref_id in TEMPLATE_IDS
                 for line in template(ref_id).split("\n") for s in sentences(line) if len(s) >= 12)


def is_content(ch: str) -> bool:
    """A letter or a number: what survives normalisation (punctuation and spaces do not)."""
    return unicodedata.category(ch)[0] in "LN"


def content_chars(text: str) -> str:
    return "".join(ch for ch in text if is_content(ch))


def all_matches(result: CheckResult) -> list:
    return [m for p in result.paragraphs for m in p.matches]


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int
    source: str


def highlights(result: CheckResult) -> list[Highlight]:
    """What a reader sees marked: matches of one source that touch or overlap merge into one
    highlight (the checker may report one passage in pieces, e.g. around a stock phrase)."""
    out: list[Highlight] = []
    for m in sorted(all_matches(result), key=lambda m: m.start):
        last = out[-1] if out else None
        if last is not None and last.source == m.source.id and m.start <= last.end:
            out[-1] = Highlight(last.start, max(last.end, m.end), last.source)
        else:
            out.append(Highlight(m.start, m.end, m.source.id))
    return out


def covered_positions(result: CheckResult) -> set[int]:
    return {i for m in all_matches(result) for i in range(m.start, m.end)}


def uncovered_content(text: str, result: CheckResult, start: int, end: int) -> str:
    """Letters and numbers of text[start:end] that no reported match covers."""
    covered = covered_positions(result)
    return "".join(text[i] for i in range(start, end) if is_content(text[i]) and i not in covered)


# Every encoding an editor may save a report in (a pytest parameter list: id -> encoder).
ENCODINGS = [
    pytest.param(lambda t: t.encode("utf-8"), id="utf-8"),
    pytest.param(lambda t: t.encode("utf-8-sig"), id="utf-8-bom"),
    pytest.param(lambda t: t.encode("gb18030"), id="gb18030"),
    pytest.param(lambda t: t.encode("gbk"), id="gbk"),
    pytest.param(lambda t: b"\xff\xfe" + t.encode("utf-16-le"), id="utf-16-le-bom"),
    pytest.param(lambda t: b"\xfe\xff" + t.encode("utf-16-be"), id="utf-16-be-bom"),
]


def write_docx(path: Path, text: str) -> Path:
    """A Word document with one paragraph per line of ``text``, made with python-docx."""
    document = docx.Document()
    for line in text.split("\n"):
        document.add_paragraph(line)
    document.save(str(path))
    return path


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the first the catalogue), with its cross-reference
    table: the smallest file a reader opens, for documents built by hand."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)
