"""Reviewer options on real text: quotations, chosen sources, the author's own earlier report,
stock phrases, phrases common to the corpus, and cross-checking a batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_helpers import TestClient, isolated_settings
from support import case_text, provincial_text, template, template_paragraph
from typer.testing import CliRunner

from app.api.main import create_app
from app.cli import app as cli
from app.core import (
    CheckOptions,
    CheckResult,
    Reference,
    build_index,
    bundled_corpus_dir,
    check_text,
    cross_check,
    load_corpus,
)
from app.core.exclusions import Exclusions

COPIED = template_paragraph("jianshe-ju", "（一）坚持以上率下")  # a whole template paragraph
HOST = provincial_text("2025-浙江省").split("\n")[5]  # a real paragraph of original text


def _matches(result: CheckResult) -> list:
    return [m for p in result.paragraphs for m in p.matches]


def _options(**exclusions: object) -> CheckOptions:
    return CheckOptions(exclusions=Exclusions(**exclusions))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def templates():  # type: ignore[no-untyped-def]
    return build_index(load_corpus(bundled_corpus_dir()))


def test_quotations_leave_the_ratio_but_stay_marked(templates) -> None:  # type: ignore[no-untyped-def]
    """A copied paragraph that quotes 《…》 titles and “…” slogans: with exclude_quotes the quoted
    parts are excluded_parts of the match and leave copy_ratio; raw_copy_ratio keeps them."""
    text = HOST + "\n" + COPIED
    plain = check_text(text, templates)
    quoted = check_text(text, templates, _options(quotes=True))
    assert [m.start for m in _matches(plain)] == [m.start for m in _matches(quoted)]
    parts = [p for m in _matches(quoted) for p in m.excluded_parts]
    assert parts and all(p.reason == "quote" for p in parts)
    assert all(text[p.start] in "“《" and text[p.end - 1] in "”》" for p in parts)
    assert quoted.raw_copy_ratio == plain.copy_ratio
    assert quoted.copy_ratio < plain.copy_ratio
    assert quoted.excluded_chars["quote"] == sum(p.end - p.start for p in parts)


def test_excluded_source_by_id_and_by_tag(templates) -> None:  # type: ignore[no-untyped-def]
    """Matches with an excluded source are reported, marked 'source', and count for nothing;
    a tag selector (kind=template, from corpus.json) excludes every template."""
    text = HOST + "\n" + COPIED
    for selector in ("jianshe-ju", "kind=template"):
        result = check_text(text, templates, _options(sources=frozenset({selector})))
        matches = _matches(result)
        assert matches and all(m.excluded == "source" for m in matches)
        assert result.copy_ratio == 0.0 and result.raw_copy_ratio > 0.3
        assert result.verdict == "pass"
        assert result.sources == []


def test_own_earlier_report_does_not_count(templates) -> None:  # type: ignore[no-untyped-def]
    """A unit re-uses its own report of last year: with exclude_own and the report's unit, that
    reference is excluded ('own') while copying from someone else's report still counts."""
    last_year = case_text("case-001.txt")  # an original report, stored as the unit's own
    other = case_text("case-005.txt")
    index = build_index([
        *load_corpus(bundled_corpus_dir()),
        Reference("zuzhibu-2024", last_year, "组织部2024年述职报告", tags={"unit": "组织部"}),
        Reference("xuanchuanbu-2024", other, "宣传部2024年述职报告", tags={"unit": "宣传部"}),
    ])
    this_year = last_year.split("\n")[1] + "\n" + other.split("\n")[1]
    counted = check_text(this_year, index)
    assert {s.id for s in counted.sources} >= {"zuzhibu-2024", "xuanchuanbu-2024"}
    own = check_text(this_year, index, _options(own=True, report_tags={"unit": "组织部"}))
    reasons = {m.source.id: m.excluded for m in _matches(own)}
    assert reasons["zuzhibu-2024"] == "own"
    assert reasons["xuanchuanbu-2024"] is None
    assert [s.id for s in own.sources] == ["xuanchuanbu-2024"]
    assert own.copy_ratio < counted.copy_ratio


def test_exclude_own_needs_the_reports_unit_or_author() -> None:
    with pytest.raises(ValueError, match="unit or author"):
        Exclusions(own=True)


def test_a_stock_phrase_alone_never_counts_but_a_copied_sentence_does(templates) -> None:  # type: ignore[no-untyped-def]
    """'两学一做学习教育常态化制度化' is 14 characters shared with the templates: alone in an
    original sentence it is reported as a stock phrase that does not count; the template
    sentence around it, copied whole, counts with it."""
    slogan_only = HOST[:30] + "，持续推进两学一做学习教育常态化制度化，" + HOST[30:60]
    result = check_text(slogan_only, templates)
    matches = _matches(result)
    assert matches and all(m.excluded == "stock_phrase" for m in matches)
    assert result.copy_ratio == 0.0 and result.raw_copy_ratio > 0
    copied = next(s + "。" for s in template("jiguan-gongwei").split("。")
                  if "“两学一做”学习教育常态化制度化" in s and "\n" not in s)
    whole = check_text(HOST + copied, templates)
    assert _matches(whole) and all(m.excluded is None for m in _matches(whole))
    off = check_text(slogan_only, templates, _options(stock_phrases=False, common_share=None,
                                                      formulas=None))
    assert off.copy_ratio == off.raw_copy_ratio > 0


def test_per_request_stock_phrases(templates) -> None:  # type: ignore[no-untyped-def]
    """A phrase given with the request is treated like the bundled ones."""
    run = "督促基层党组织认真落实各项工作措施"  # from the jiguan-gongwei template
    assert run in template("jiguan-gongwei")
    text = HOST[:40] + "，" + run + "，" + HOST[40:80]
    assert check_text(text, templates, _options(common_share=None)).copy_ratio > 0
    result = check_text(text, templates, _options(extra_stock_phrases=(run,), common_share=None))
    assert result.copy_ratio == 0.0
    assert {m.excluded for m in _matches(result)} == {"stock_phrase"}


def test_phrases_common_to_the_corpus_are_suppressed() -> None:
    """A phrase found in most of the corpus documents is the corpus's own stock phrase: on its
    own it is marked common_phrase and does not count; without that rule it is still a formula
    (held by every template); with both off it counts."""
    refs = load_corpus(bundled_corpus_dir())
    opening = "根据会议安排，现将本人一年来履行基层党建工作职责情况报告如下"
    assert sum(opening in r.text for r in refs) == len(refs)  # in every template
    index = build_index(refs)
    text = HOST[:50] + "。" + opening + "：" + HOST[50:100]
    on = check_text(text, index, _options(stock_phrases=False))
    assert _matches(on) and {m.excluded for m in _matches(on)} == {"common_phrase"}
    assert on.copy_ratio == 0.0
    formula = check_text(text, index, _options(stock_phrases=False, common_share=None))
    assert {m.excluded for m in _matches(formula)} == {"formula"}
    assert {m.formula_refs for m in _matches(formula)} == {len(refs)}
    assert formula.copy_ratio == 0.0
    off = check_text(text, index, _options(stock_phrases=False, common_share=None,
                                           formulas=None))
    assert off.copy_ratio > 0 and all(m.excluded is None for m in _matches(off))


def test_an_identical_copy_counts_all_but_its_formula_paragraphs(templates) -> None:  # type: ignore[no-untyped-def]
    """With the default options, stock and common phrases and formulas inside a copied
    paragraph count with it: every paragraph of a copied template counts in full but the ones
    that are formulas on their own (title, opening line, headings); count_formulas counts
    those too."""
    text = template("minzheng-ju")
    result = check_text(text, templates)
    assert result.raw_copy_ratio >= 0.99
    for para in result.paragraphs:
        named = [m.formula_refs is not None for m in para.matches]
        assert named and (all(named) or not any(named)), text[para.start : para.end]
        assert para.copied_chars == (0 if all(named) else para.chars)
    assert 0.9 < result.copy_ratio < result.raw_copy_ratio
    counted = check_text(text, templates, _options(count_formulas=True))
    assert counted.copy_ratio == counted.raw_copy_ratio == result.raw_copy_ratio


def test_cross_check_finds_who_copied_from_whom(templates) -> None:  # type: ignore[no-untyped-def]
    """Two units' reports where the second took a paragraph of the first: the pair appears with
    the copied characters; each report is also checked against the corpus; the batch leaves
    the index as it was."""
    first = case_text("case-001.txt")
    borrowed = first.split("\n")[2]
    second = case_text("case-008.txt") + "\n" + borrowed
    before = len(templates)
    crossed = cross_check([("unit-a", first), ("unit-b", second)], templates, CheckOptions())
    assert len(templates) == before and "unit-a" not in templates
    pairs = {(p.report, p.source): p for p in crossed.pairs}
    assert ("unit-b", "unit-a") in pairs
    assert pairs[("unit-b", "unit-a")].copied_chars >= len(borrowed) - 10
    assert all(p.report != p.source for p in crossed.pairs)
    by_id = {r.id: r.result for r in crossed.reports}
    assert {m.source.id for m in _matches(by_id["unit-a"])} <= {"unit-b"}


def test_cli_options_and_cross(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text(HOST + "\n" + COPIED, encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(cli, ["check", "--format", "json", "--exclude-source", "kind=template",
                               str(report)])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["copy_ratio"] == 0.0 and result["raw_copy_ratio"] > 0.3
    assert runner.invoke(cli, ["check", "--exclude-own", str(report)]).exit_code == 2
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a.txt").write_text(case_text("case-001.txt"), encoding="utf-8")
    (batch / "b.txt").write_text(case_text("case-008.txt") + "\n" +
                                 case_text("case-001.txt").split("\n")[2], encoding="utf-8")
    done = runner.invoke(cli, ["check", "--cross", "--format", "json", str(batch)])
    crossed = json.loads(done.output)
    assert ("b", "a") in {(p["report"], p["source"]) for p in crossed["pairs"]}
    html = tmp_path / "batch.html"
    done = runner.invoke(cli, ["check", "--cross", "--format", "html", "--output", str(html),
                               str(batch)])
    assert done.exit_code in (0, 1) and 'id="pairs"' in html.read_text(encoding="utf-8")


def test_api_options_tags_and_batch(tmp_path: Path) -> None:
    with TestClient(create_app(isolated_settings(tmp_path, api_keys="k"))) as client:
        auth = {"Authorization": "Bearer k"}
        last_year = case_text("case-001.txt")
        added = client.post("/v1/references", headers=auth, json={
            "id": "zuzhibu-2024", "text": last_year, "title": "组织部2024年述职报告",
            "tags": {"unit": "组织部", "year": "2024", "kind": "submission"}})
        assert added.status_code == 201 and added.json()["tags"]["unit"] == "组织部"
        text = last_year.split("\n")[1] + "\n" + COPIED
        counted = client.post("/v1/check", json={"text": text}).json()
        own = client.post("/v1/check", json={"text": text, "exclude_own": True,
                                             "unit": "组织部", "exclude_quotes": True}).json()
        assert counted["copy_ratio"] > own["copy_ratio"]
        excluded = [m for p in own["paragraphs"] for m in p["matches"] if m["excluded"]]
        assert {m["source"]["id"] for m in excluded} == {"zuzhibu-2024"}
        shares = {s["id"]: s for s in counted["sources"]}
        assert shares["zuzhibu-2024"]["tags"]["year"] == "2024"
        refused = client.post("/v1/check", json={"text": text, "exclude_own": True})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_option"
        other = case_text("case-005.txt")  # not in the corpus: only report a has it
        batch = client.post("/v1/check/batch", json={"reports": [
            {"id": "a", "text": other},
            {"id": "b", "text": case_text("case-008.txt") + "\n" + other.split("\n")[2]}]})
        assert batch.status_code == 200
        assert ("b", "a") in {(p["report"], p["source"]) for p in batch.json()["pairs"]}
        page = client.post("/v1/check/batch?format=html", json={"reports": [
            {"id": "a", "text": "一" * 20}, {"id": "b", "text": "二" * 20}]})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
