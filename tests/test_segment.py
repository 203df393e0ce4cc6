"""Segmentation: paragraphs and sentences as spans of the original text."""

from __future__ import annotations

from itertools import accumulate, pairwise

import pytest
from support import (
    TEMPLATE_IDS,
    case_text,
    provincial_text,
    template,
    template_paragraph,
)

from app.core.segment import CLAUSE_BREAK, MAX_SENTENCE, Span, paragraphs, sentences


def _texts(text: str, spans: list[Span]) -> list[str]:
    return [text[s.start : s.end] for s in spans]


def _wrap(line: str, width: int) -> str:
    return "\n".join(line[i : i + width] for i in range(0, len(line), width))


@pytest.mark.parametrize("name", TEMPLATE_IDS)
def test_template_lines_are_its_paragraphs(name: str) -> None:
    """Real paragraphs of varied length are never joined: one line, one paragraph."""
    text = template(name)
    assert _texts(text, paragraphs(text)) == [line for line in text.split("\n") if line.strip()]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_line_endings_and_blank_lines(newline: str) -> None:
    """LF, CRLF and CR all break paragraphs; blank lines and surrounding spaces are dropped."""
    lines = case_text("case-000.txt").split("\n")[:4]
    text = newline.join(["", f"\u3000\u3000{lines[0]}  ", "", " \t", lines[1], lines[2] + " ",
                         "", lines[3], ""])
    assert _texts(text, paragraphs(text)) == lines


def test_docx_style_indent_is_trimmed() -> None:
    """Provincial reports indent paragraphs with ideographic spaces; spans exclude them."""
    text = provincial_text("2025-浙江省")
    spans = paragraphs(text)
    assert len(spans) > 50
    for got in _texts(text, spans):
        assert got == got.strip() and got
        assert not got.startswith("\u3000")


def test_hard_wrapped_paragraph_is_joined() -> None:
    """A template paragraph pasted out of a PDF, wrapped every 30 characters, is one paragraph."""
    para = template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作")
    text = _wrap(para, 30)
    assert text.count("\n") >= 10
    spans = paragraphs(text)
    assert len(spans) == 1
    assert text[spans[0].start : spans[0].end].replace("\n", "") == para


def test_hard_wrapped_document_keeps_paragraph_breaks() -> None:
    """A whole template wrapped at 30: the text is kept, and every paragraph whose last line is
    clearly short of the width still ends there (a last line of 28+ may join the next one)."""
    lines = [line for line in template("jiguan-gongwei").split("\n") if line]
    text = "\n".join(_wrap(line, 30) for line in lines)
    got = [t.replace("\n", "") for t in _texts(text, paragraphs(text))]
    assert "".join(got) == "".join(lines)
    ends = accumulate(len(line) for line in lines)
    clearly_short = {end for end, line in zip(ends, lines, strict=True) if 0 < len(line) % 30 < 28}
    assert len(clearly_short) >= 8
    assert clearly_short <= set(accumulate(len(chunk) for chunk in got))


@pytest.mark.parametrize("width", [28, 33, 40])
def test_a_passage_pasted_out_of_a_pdf_into_a_report_is_joined(width: int) -> None:
    """A report typed one paragraph a line, with a template paragraph pasted in the middle of
    one of them out of a PDF (broken every ``width`` characters): the report's paragraphs stay
    as they are and the paragraph with the pasted passage is one again."""
    host = case_text("case-001.txt").split("\n")[:3]
    para = template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作")
    pasted = host[1] + _wrap(para, width)
    text = "\n".join([host[0], pasted, host[2]])
    assert pasted.count("\n") >= 5
    assert [t.replace("\n", "") for t in _texts(text, paragraphs(text))] == [
        host[0], host[1] + para, host[2]]


def _columns(ch: str) -> int:
    return 2 if ch >= "\u2e80" else 1


def test_text_wrapped_at_a_display_width_is_joined() -> None:
    """A PDF's line holds more half-width digits than Chinese characters: wrapped at 60 display
    columns, the lines of a template paragraph with figures differ in length, and are still one
    paragraph."""
    para = template_paragraph("jiguan-gongwei", "区直机关工委现管理").replace("XX", "2024")
    lines, line = [], ""
    for ch in para:
        if sum(map(_columns, line + ch)) > 60:
            lines.append(line)
            line = ""
        line += ch
    lines.append(line)
    assert len({len(x) for x in lines[:-1]}) > 2  # not one width in characters
    text = "\n".join(lines)
    assert _texts(text, paragraphs(text)) == [text]


def test_sentences_end_at_chinese_stops_with_closing_quotes() -> None:
    """Sentences end at 。；！？ and take closing quotes with them."""
    text = "一是持续推进“两学一做”。二是狠抓落实；三是提高站位！能做到吗？对此，要说“好。”最后"
    para = Span(0, len(text))
    assert _texts(text, sentences(text, para)) == [
        "一是持续推进“两学一做”。", "二是狠抓落实；", "三是提高站位！", "能做到吗？",
        "对此，要说“好。”", "最后"]


@pytest.mark.parametrize("name", TEMPLATE_IDS)
def test_sentences_tile_each_paragraph(name: str) -> None:
    """Sentences lie inside their paragraph, in order, and cover all of it but spaces."""
    text = template(name)
    for para in paragraphs(text):
        spans = sentences(text, para)
        assert spans[0].start == para.start and spans[-1].end == para.end
        for a, b in pairwise(spans):
            assert a.end <= b.start
            assert text[a.end : b.start].strip() == ""


def test_long_sentences_are_cut_at_commas() -> None:
    """A template sentence over MAX_SENTENCE characters is cut into clauses ending at a comma."""
    para_text = template_paragraph("jiguan-gongwei", "重点抓好以下五个方面的工作")
    para = Span(0, len(para_text))
    spans = sentences(para_text, para)
    long_sentences = [s for s in spans if s.end - s.start > MAX_SENTENCE]
    pieces = _texts(para_text, spans)
    assert any(p[-1] in "，：" for p in pieces)
    # what remains long has no comma at least half a sentence in and 16 characters from the end
    for s in long_sentences:
        inner = para_text[s.start + MAX_SENTENCE // 2 - 1 : s.end - 15]
        assert not set(inner) & set(CLAUSE_BREAK)


def test_no_paragraphs_in_blank_text() -> None:
    assert paragraphs("") == []
    assert paragraphs(" \n\u3000\r\n\t") == []
