"""The HTML report: one self-contained page (no external assets), Jinja2 with autoescaping.

Everything taken from a report or a reference is escaped by Jinja2, so a report containing
``<script>`` shows as text. Selecting a highlighted span shows its source passage beside the text,
with the characters that match marked (CSS ``:target``, so it works without JavaScript too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.core.highlight import highlight
from app.core.schema import CheckResult, CrossResult, Match

# one colour per source, each readable as text on white (contrast 4.9:1 or more, WCAG AA)
PALETTE = ["#c62828", "#1565c0", "#6a1b9a", "#a04000", "#2e7d32", "#6d4c41", "#ad1457",
           "#00796b"]

LABELS = {
    "zh-CN": {
        "title": "文本复制检测报告", "ratio": "总复制比", "verdict": "结论",
        "pass": "通过", "fail": "未通过", "threshold": "阈值", "chars": "检测字符数",
        "copied": "复制字符数", "sources": "相似来源", "source": "来源", "share": "占比",
        "paragraphs": "逐段检测", "paragraph": "段落", "similarity": "相似度",
        "pick": "点击彩色标记的文字，查看对应的来源原文", "none": "未发现复制内容",
        "exact": "原文照抄", "fuzzy": "改写复制", "excluded": "不计入复制比",
        "x_quote": "引用", "x_source": "排除的来源", "x_own": "本人已发表",
        "x_stock_phrase": "常用语", "x_common_phrase": "语料库通用语",
        "batch_title": "批量交叉检测报告",
        "reports": "报告", "report": "报告", "pairs": "报告之间的复制", "copied_from": "复制自",
        "compare": "全文对照", "passages": "来源原文",
        "x_formula": "规定表述", "kind": "复制方式", "k_verbatim": "原文照抄",
        "k_filled": "填写占位符、改动数字", "k_swapped": "替换或增删词语",
        "k_reordered": "调整语序",
        "k_converted": "繁简或全半角转换", "k_rewrapped": "重新换行",
        "formulas": "规定表述（套话）",
        "formulas_note": "比对库中许多文档都有（数字、占位符不计，个别字词不同）的段落，或常用语："
                         "单独列出，不算作从某一来源复制。",
        "formula": "规定表述", "refs": "多少篇文档都有", "occurrences": "出现次数",
        "counted": "计入复制比", "yes": "是", "no": "否",
        "held_by": "比对库中 {n} 篇文档都有",
    },
    "en": {
        "title": "Copy check report", "ratio": "Copy ratio", "verdict": "Verdict",
        "pass": "pass", "fail": "fail", "threshold": "threshold", "chars": "Characters checked",
        "copied": "Characters copied", "sources": "Sources", "source": "Source",
        "share": "Share", "paragraphs": "Paragraph by paragraph", "paragraph": "Paragraph",
        "similarity": "similarity", "pick": "Select a highlighted passage to see its source",
        "none": "No copied text found", "exact": "verbatim", "fuzzy": "disguised copy",
        "excluded": "not counted", "x_quote": "quotation", "x_source": "excluded source",
        "x_own": "own earlier work", "x_stock_phrase": "stock phrase",
        "x_common_phrase": "common in the corpus",
        "batch_title": "Batch cross-check", "reports": "Reports", "report": "Report",
        "pairs": "Copying between reports", "copied_from": "Copied from",
        "compare": "Side by side", "passages": "Source passages",
        "x_formula": "formula", "kind": "kind of copy", "k_verbatim": "verbatim",
        "k_filled": "placeholders filled", "k_swapped": "words swapped",
        "k_reordered": "sentences reordered", "k_converted": "characters converted",
        "k_rewrapped": "re-wrapped", "formulas": "Formulas",
        "formulas_note": "Passages many references hold near-identically (figures and "
                         "placeholders aside, a word or two changed), or stock phrases: shown "
                         "apart, not as copied from one source.",
        "formula": "Formula", "refs": "references holding it", "occurrences": "occurrences",
        "counted": "counted", "yes": "yes", "no": "no",
        "held_by": "held by {n} references of the corpus",
    },
}


@dataclass(frozen=True)
class SourcePiece:
    text: str
    matching: bool


@dataclass(frozen=True)
class MatchView:
    key: str
    match: Match
    colour: str
    source_pieces: list[SourcePiece]


def source_pieces(copied: str, source: str, n: int = 3) -> list[SourcePiece]:
    """The source passage split into parts that also occur in the copied text (any shared run of
    ``n`` or more characters, in any order, so reordered sentences are marked too) and parts
    that don't."""
    grams = {copied[i : i + n] for i in range(len(copied) - n + 1)}
    marked = [False] * len(source)
    for i in range(len(source) - n + 1):
        if source[i : i + n] in grams:
            marked[i : i + n] = [True] * n
    out: list[SourcePiece] = []
    for ch, matching in zip(source, marked, strict=True):
        if out and out[-1].matching == matching:
            out[-1] = SourcePiece(out[-1].text + ch, matching)
        else:
            out.append(SourcePiece(ch, matching))
    return out


def _parts(text: str, start: int, match: Match) -> list[tuple[str, str | None]]:
    """A highlighted run split where the match's excluded parts begin and end."""
    reasons: list[str | None] = [match.excluded] * len(text)
    for part in match.excluded_parts:
        for i in range(max(part.start, start), min(part.end, start + len(text))):
            reasons[i - start] = part.reason
    out: list[tuple[str, str | None]] = []
    for ch, reason in zip(text, reasons, strict=True):
        if out and out[-1][1] == reason:
            out[-1] = (out[-1][0] + ch, reason)
        else:
            out.append((ch, reason))
    return out


_CONTROLS = {**{c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n\r"},
             0x7F: 0x2421, **{c: 0xFFFD for c in range(0x80, 0xA0)}}


def visible_controls(value: object) -> object:
    """Control characters shown as their Unicode control pictures (␇ for BEL), since HTML has
    no way to escape them: a report's control characters can neither vanish nor act."""
    return value.translate(_CONTROLS) if isinstance(value, str) else value


TEMPLATES = Path(__file__).parent / "templates"


def make_environment(*folders: Path) -> Environment:
    """Jinja2 as every page of the product uses it: autoescaped, control characters shown."""
    return Environment(
        loader=FileSystemLoader([*folders, TEMPLATES]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=visible_controls,  # before escaping, on every value written into a page
        trim_blocks=True, lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return make_environment()


def report_context(result: CheckResult, text: str, lang: str = "zh-CN",
                   name: str | None = None,
                   compare_url: Callable[[str], str] | None = None) -> dict[str, Any]:
    """What the report templates draw from (the standalone page, and the permalink page that
    embeds it with links to the side-by-side view of each source)."""
    labels = LABELS.get(lang, LABELS["zh-CN"])
    colours = source_colours(result)
    matches: dict[tuple[int, int], MatchView] = {}
    paragraphs = []
    for para in result.paragraphs:
        runs = []
        for run in highlight(text, para.start, para.end, para.matches):
            view = None
            if run.match is not None:
                m = run.match
                key = f"m{len(matches) + 1}"
                view = matches.setdefault((m.start, m.end), MatchView(
                    key, m, colours.get(m.source.id, PALETTE[0]),
                    source_pieces(m.text, m.source.text)))
            runs.append((run.text, view, _parts(run.text, run.start, run.match)
                         if run.match is not None else []))
        paragraphs.append((para, runs))
    return {"result": result, "name": name or result.title or "",
            "lang": lang if lang in LABELS else "zh-CN", "t": labels, "colours": colours,
            "paragraphs": paragraphs, "matches": list(matches.values()),
            "compare_url": compare_url}


def source_colours(result: CheckResult) -> dict[str, str]:
    return {s.id: PALETTE[i % len(PALETTE)] for i, s in enumerate(result.sources)}


def render_html(result: CheckResult, text: str, lang: str = "zh-CN",
                name: str | None = None) -> str:
    return _environment().get_template("report.html.j2").render(
        report_context(result, text, lang, name))


def render_batch_html(cross: CrossResult, lang: str = "zh-CN") -> str:
    lang = lang if lang in LABELS else "zh-CN"
    return _environment().get_template("batch.html.j2").render(cross=cross, lang=lang,
                                                               t=LABELS[lang])
