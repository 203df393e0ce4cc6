"""check_text on real templates and real host text: the edge-case table, known disguises, the
golden result of a dev case, and agreement with the dev set's truth."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import jieba
import opencc
import pytest
from support import (
    GOLDEN,
    ORIGINAL_CASE,
    PROVINCIAL,
    TEMPLATE_IDS,
    Highlight,
    all_matches,
    case_text,
    content_chars,
    highlights,
    host_paragraphs,
    is_content,
    provincial_paragraph,
    provincial_text,
    sentences,
    template,
    template_paragraph,
    truth,
    uncovered_content,
)

from app.core import CheckOptions, CheckResult
from app.core.normalize import normalize

Check = Callable[..., CheckResult]
_S2T = opencc.OpenCC("s2t")


# -- the edge-case table -----------------------------------------------------------------------

@dataclass
class Case:
    """A report and what must hold for it.

    copied:   (part of the text, source id): every letter/number of the part is covered by
              matches, all from that source.
    original: parts of the text that no match may touch.
    verbatim: (part, source id): the one highlight touching the part is exactly that part
              (its offsets slice it) and comes from that source.
    highlights: how many highlights a reader sees (support.highlights: touching matches of
              one source read as one).
    """

    text: str
    paragraphs: int | None = None
    ratio: tuple[float, float] = (0.0, 1.0)
    raw_ratio: tuple[float, float] = (0.0, 1.0)  # before exclusions (formulas included)
    copied: list[tuple[str, str]] = field(default_factory=list)
    original: list[str] = field(default_factory=list)
    verbatim: list[tuple[str, str]] = field(default_factory=list)
    highlights: int | None = None
    min_coverage: float = 1.0  # share of a copied part's letters/numbers that must be covered


def _host(n: int) -> list[str]:
    """n original paragraphs of real reports (dev case-001 and the Zhejiang report)."""
    return list(host_paragraphs()[:n])


def _one_sentence_in_original_paragraph() -> Case:
    copied = "督促基层党组织认真落实各项工作措施，购置配发学习资料XX余册，为党员学习提供保障。"
    assert copied in template("jiguan-gongwei")
    host = sentences(_host(1)[0])
    before, after = "".join(host[:3]), "".join(host[3:6])
    return Case(before + copied + after, paragraphs=1, copied=[(copied, "jiguan-gongwei")],
                original=[before, after], verbatim=[(copied, "jiguan-gongwei")], highlights=1)


def _fill_in(text: str) -> str:
    """What a writer does to a template: fill placeholders, move to this year and congress."""
    return (text.replace("XXX", "青年文明号").replace("XX", "12").replace("X", "3")
            .replace("区直", "市直").replace("2019", "2024").replace("十九大", "二十大"))


def _filled_in(prefix: str) -> Case:
    para = template_paragraph("jiguan-gongwei", prefix)
    filled = _fill_in(para)
    assert filled != para
    host = _host(2)
    return Case("\n".join([host[0], filled, host[1]]), paragraphs=3,
                copied=[(filled, "jiguan-gongwei")], original=host, min_coverage=0.9)


def _hard_wrapped(alone: bool) -> Case:
    para = template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作")
    wrapped = "\n".join(para[i : i + 30] for i in range(0, len(para), 30))
    if alone:
        return Case(wrapped, paragraphs=1, copied=[(wrapped, "jiguan-gongwei")], highlights=1)
    host = _host(2)
    return Case("\n".join([host[0], wrapped, host[1]]), copied=[(wrapped, "jiguan-gongwei")],
                original=host)


def _traditional() -> Case:
    host = [_S2T.convert(p) for p in _host(2)]
    copy = _S2T.convert(template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作"))
    assert copy != template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作")
    return Case("\n".join([host[0], copy, host[1]]), paragraphs=3,
                copied=[(copy, "jiguan-gongwei")], original=host, highlights=1)


def _reordered() -> Case:
    parts = sentences(template_paragraph("jiguan-gongwei", "存在以上问题的主要原因"))
    assert len(parts) == 4
    shuffled = "".join(parts[i] for i in (2, 0, 3, 1))
    host = _host(2)
    return Case("\n".join([host[0], shuffled, host[1]]), paragraphs=3,
                copied=[(shuffled, "jiguan-gongwei")], original=host, highlights=1)


def _identical(ref_id: str) -> Case:
    text = template(ref_id)
    lines = [line for line in text.split("\n") if line.strip()]
    # all of it copied; its title, opening and headings are formulas (test_formulas.py)
    return Case(text, paragraphs=len(lines), ratio=(0.9, 1.0), raw_ratio=(0.99, 1.0),
                copied=[(line, ref_id) for line in lines])


def _original_provincial() -> Case:
    para = provincial_paragraph("2025-浙江省", "（一）系统落实一揽子存量和增量政策")
    return Case(para, paragraphs=1, ratio=(0.0, 0.0), original=[para], highlights=0)


EDGE_CASES = [
    pytest.param(Case("", paragraphs=0, ratio=(0.0, 0.0), highlights=0), id="empty"),
    pytest.param(Case("两学一做", paragraphs=1, ratio=(0.0, 0.0), original=["两学一做"],
                      highlights=0), id="shorter-than-a-shingle"),
    pytest.param(Case("三会一课、主题党日", paragraphs=1, ratio=(0.0, 0.0), highlights=0),
                 id="template-fragment-under-13-chars"),
    *[pytest.param(_identical(ref_id), id=f"identical-to-{ref_id}") for ref_id in TEMPLATE_IDS],
    pytest.param(_one_sentence_in_original_paragraph(), id="one-copied-sentence-in-own-paragraph"),
    pytest.param(_filled_in("2019年，区直机关党建工作的思路"), id="filled-in-year-congress-shiji"),
    pytest.param(_filled_in("区直机关工委现管理"), id="filled-in-placeholders"),
    pytest.param(_filled_in("重点抓好以下五个方面的工作"), id="filled-in-long-paragraph"),
    pytest.param(_hard_wrapped(alone=True), id="hard-wrapped-copy"),
    pytest.param(_hard_wrapped(alone=False), id="hard-wrapped-copy-among-own-paragraphs"),
    pytest.param(_traditional(), id="traditional-chinese-copy"),
    pytest.param(_reordered(), id="reordered-sentences"),
    pytest.param(_original_provincial(), id="original-provincial-paragraph"),
    pytest.param(Case(case_text(ORIGINAL_CASE), ratio=(0.0, 0.0), highlights=0),
                 id="original-dev-case"),
]


@pytest.mark.parametrize("case", EDGE_CASES)
def test_edge_cases(case: Case, check: Check) -> None:
    """Each row states what a reviewer must see for that kind of report."""
    result = check(case.text)
    if case.paragraphs is not None:
        assert len(result.paragraphs) == case.paragraphs
    low, high = case.ratio
    assert low <= result.copy_ratio <= high
    low, high = case.raw_ratio
    assert low <= result.raw_copy_ratio <= high
    assert result.verdict == ("fail" if result.copy_ratio > result.threshold else "pass")
    matches = all_matches(result)
    marked = highlights(result)
    if case.highlights is not None:
        assert len(marked) == case.highlights, [case.text[h.start : h.end] for h in marked]
    for part, source in case.copied:
        start = case.text.index(part)
        end = start + len(part)
        missing = uncovered_content(case.text, result, start, end)
        assert len(missing) <= (1 - case.min_coverage) * len(content_chars(part)), missing
        touching = [m for m in matches if m.start < end and start < m.end]
        assert touching and {m.source.id for m in touching} == {source}
    for part in case.original:
        start = case.text.index(part)
        end = start + len(part)
        assert not [m.text for m in matches if m.start < end and start < m.end]
    for part, source in case.verbatim:
        start = case.text.index(part)
        end = start + len(part)
        assert [h for h in marked if h.start < end and start < h.end] == \
            [Highlight(start, end, source)]


@pytest.mark.parametrize("ref_id", TEMPLATE_IDS)
def test_identical_report_matches_every_paragraph_to_that_source(ref_id: str,
                                                                 check: Check) -> None:
    """A report that is a template: every paragraph is attributed to that template alone, even
    the sentences it shares with the other templates. (Its copy ratio is in the edge table.)"""
    text = template(ref_id)
    result = check(text)
    assert [s.id for s in result.sources] == [ref_id]
    for para in result.paragraphs:
        assert para.closest_source in (ref_id, None)  # None: nothing in it counts (exclusions)
        assert {m.source.id for m in para.matches} == {ref_id}
        assert uncovered_content(text, result, para.start, para.end) == ""


@pytest.mark.parametrize("name", ["case-000.txt", "case-004.txt", "case-013.txt"])
def test_every_match_holds_a_letter_or_number(name: str, check: Check) -> None:
    """A highlight is a copied span of text; a piece made only of punctuation ('、', '”、') tells
    the reader nothing and must not be reported as a match of its own."""
    for m in all_matches(check(case_text(name))):
        assert content_chars(m.text), (m.start, m.end, m.text)


# -- what each reported match says about its source --------------------------------------------

@pytest.mark.parametrize("ref_id", TEMPLATE_IDS)
def test_identical_report_each_match_points_at_its_own_paragraph(ref_id: str,
                                                                 check: Check) -> None:
    """In a report identical to a template, the source passage of the match in paragraph k is
    that paragraph of the template: the same letters, similarity 1.0, starting where the match
    starts (a passage that runs over several paragraphs must not give every piece the source
    range of the whole passage). Punctuation at the ends is test_verbatim_sentence_source_…'s
    business, so it is left out here."""
    text = template(ref_id)
    for m in all_matches(check(text)):
        assert content_chars(m.source.text) == content_chars(m.text), (m.text[:20], m.source.start,
                                                                       m.source.end)
        assert m.similarity == 1.0
        assert abs(m.source.start - m.start) <= 1


def test_verbatim_sentence_source_is_that_sentence(check: Check) -> None:
    """One template sentence copied verbatim: its source passage is that same sentence, with
    the full stop the match includes."""
    case = _one_sentence_in_original_paragraph()
    copied, source = case.verbatim[0]
    [m] = all_matches(check(case.text))
    assert m.text == copied
    assert m.source.id == source
    assert m.source.text == copied
    assert m.source.start == template(source).index(copied)


def test_verbatim_sentence_is_reported_exact(check: Check) -> None:
    """A sentence copied character for character is an exact match (schema: 'made only of
    verbatim runs') with similarity 1.0."""
    case = _one_sentence_in_original_paragraph()
    [m] = all_matches(check(case.text))
    assert m.similarity == 1.0
    assert m.exact is True


def test_copy_does_not_spill_into_the_next_paragraph(check: Check) -> None:
    """A copied sentence followed by the writer's own heading '（四）…': the numeral of the
    heading happens to continue the template ('…X次。四是…'), but the heading paragraph is the
    writer's own and must get no match."""
    copied = ("三是严格落实党建责任制，与局属单位签订党建责任书XX份，确定党建联系点XX个，"
              "累计开展督查X次。")
    assert copied + "四是" in template("jianshe-ju")
    own = provincial_paragraph("2025-浙江省", "（四）推进高水平创新型省份建设")
    text = _host(1)[0] + copied + "\n" + own
    result = check(text)
    assert content_chars(copied) in content_chars("".join(m.text for m in all_matches(result)))
    heading = result.paragraphs[1]
    assert text[heading.start : heading.end] == own
    assert [m.text for m in heading.matches] == []


def test_filled_in_year_at_sentence_start_is_part_of_the_match(check: Check) -> None:
    """'2024年，市直机关…' filled in from '2019年，区直机关…': the year folds to the template's
    and 市直 is a one-character swap, so the copy starts at the year, not after 市."""
    filled = _fill_in(template_paragraph("jiguan-gongwei", "2019年，区直机关党建工作的思路"))
    assert filled.startswith("2024年，市直机关")
    result = check(filled)
    assert highlights(result) == [Highlight(0, len(filled), "jiguan-gongwei")]
    first = min(all_matches(result), key=lambda m: m.start)
    assert first.source.text.startswith("2019年，区直机关")


def test_min_match_chars_option_limits_verbatim_runs(check: Check) -> None:
    """A 13-character verbatim run inside the writer's sentence is reported at the default
    minimum and not when the minimum is raised above its length."""
    run = "持续推进“两学一做”学习教育常态化制度化"  # 18 normalised characters
    assert len(normalize(run).chars) == 18 and run in template("jiguan-gongwei")
    host = sentences(_host(1)[0])
    text = host[0] + "各单位" + run + "，" + host[1]
    assert content_chars(run) in content_chars("".join(m.text for m in all_matches(check(text))))
    assert all_matches(check(text, options=CheckOptions(min_match_chars=19))) == []


@pytest.mark.parametrize(("threshold", "verdict"), [(0.2, "fail"), (0.5, "pass")])
def test_threshold_decides_the_verdict(threshold: float, verdict: str, check: Check) -> None:
    """case-000 has about a third copied: over a 20 % threshold, under a 50 % one."""
    result = check(case_text("case-000.txt"), options=CheckOptions(threshold=threshold))
    assert 0.2 < result.copy_ratio < 0.5
    assert result.threshold == threshold and result.verdict == verdict


@pytest.mark.parametrize("bad", [{"threshold": 1.5}, {"threshold": -0.1},
                                 {"min_match_chars": 5}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="must be"):
        CheckOptions(**bad)


# -- real reports ------------------------------------------------------------------------------

PROVINCIAL_REPORTS = sorted(p.stem for p in PROVINCIAL.glob("*.docx"))


def test_provincial_reports_are_there() -> None:
    assert len(PROVINCIAL_REPORTS) == 20


@pytest.mark.parametrize("name", PROVINCIAL_REPORTS)
def test_original_provincial_report_passes(name: str, check: Check) -> None:
    """A real government work report written by its province is not a copy of the templates:
    it passes, and at most a stock phrase or two is flagged."""
    result = check(provincial_text(name))
    assert result.chars > 5000
    assert result.verdict == "pass"
    assert result.copy_ratio < 0.005


DEV_CASES = [f"case-{i:03d}.txt" for i in range(30)]


@pytest.mark.parametrize("name", DEV_CASES)
def test_dev_case_copied_spans_are_found(name: str, check: Check) -> None:
    """Every copied span in truth.jsonl (13+ normalised characters) is found: at least 90 % of
    its letters and numbers covered by matches from its true source; a case without spans is
    clean."""
    row = truth()[name]
    text = case_text(name)
    result = check(text)
    if not row["spans"]:
        assert all_matches(result) == []
        return
    for span in row["spans"]:
        start, end = span["start"], span["end"]
        if len(normalize(text[start:end]).chars) < 13:
            continue
        from_source = [m for m in all_matches(result) if m.source.id == span["source"]]
        covered = {i for m in from_source for i in range(m.start, m.end)}
        letters = [i for i in range(start, end) if is_content(text[i])]
        share = sum(i in covered for i in letters) / len(letters)
        assert share >= 0.9, (span, share)


# -- golden result -----------------------------------------------------------------------------

GOLDEN_CASE = "case-000.txt"
GOLDEN_FILE = GOLDEN / "case-000.json"


def _current_golden_result(check: Check) -> dict:
    return check(case_text(GOLDEN_CASE), title=GOLDEN_CASE).model_dump(mode="json")


def test_result_json_matches_golden(check: Check) -> None:
    """The full JSON result of dev case-000 equals the reviewed golden file.

    Regenerate with CHACHONG_UPDATE_GOLDEN=1 after an intended change, then review the diff;
    test_golden_agrees_with_truth keeps a regenerated file honest."""
    current = _current_golden_result(check)
    if os.environ.get("CHACHONG_UPDATE_GOLDEN") == "1":
        GOLDEN_FILE.write_text(json.dumps(current, ensure_ascii=False, indent=1) + "\n",
                               encoding="utf-8")
    golden = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    assert _spans(current) == _spans(golden)  # the readable part of a difference first
    assert current == golden


def _spans(result: dict) -> list[tuple]:
    return [(m["start"], m["end"], m["source"]["id"], m["source"]["start"], m["source"]["end"])
            for p in result["paragraphs"] for m in p["matches"]]


def test_golden_agrees_with_truth() -> None:
    """The golden file is right, not merely current: what it marks (touching pieces of one
    source read as one highlight) is exactly the copied spans of truth.jsonl for case-000, with
    their true sources and source passages, and its figures add up."""
    golden = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    text = case_text(GOLDEN_CASE)
    marked: list[list[dict]] = []  # runs of touching matches of one source
    for m in sorted((m for p in golden["paragraphs"] for m in p["matches"]),
                    key=lambda m: m["start"]):
        assert m["text"] == text[m["start"] : m["end"]]
        source = m["source"]
        assert source["text"] == template(source["id"])[source["start"] : source["end"]]
        run = marked[-1] if marked else None
        if run and run[-1]["source"]["id"] == source["id"] and m["start"] <= run[-1]["end"]:
            run.append(m)
        else:
            marked.append([m])
    got = sorted((run[0]["start"], run[-1]["end"], run[0]["source"]["id"],
                  min(m["source"]["start"] for m in run), max(m["source"]["end"] for m in run))
                 for run in marked)
    expected = sorted((s["start"], s["end"], s["source"], s["source_start"], s["source_end"])
                      for s in truth()[GOLDEN_CASE]["spans"])
    assert got == expected
    copied = sum(p["copied_chars"] for p in golden["paragraphs"])
    assert golden["copied_chars"] == copied == sum(s["copied_chars"] for s in golden["sources"])
    assert golden["copy_ratio"] == round(copied / golden["chars"], 4)
    assert golden["raw_copied_chars"] == copied + sum(golden["excluded_chars"].values())
    assert golden["raw_copied_chars"] == sum(
        sum(not ch.isspace() for ch in m["text"]) for p in golden["paragraphs"]
        for m in p["matches"])


# -- a third of the words swapped ----------------------------------------------------------------

@cache
def _donor_words() -> dict[int, list[str]]:
    """Words of a real report (Zhejiang's) by length: what a disguise puts in a template's place."""
    out: dict[int, list[str]] = {}
    for word in jieba.lcut(provincial_text("2025-浙江省")):
        if len(word) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            out.setdefault(len(word), []).append(word)
    return out


def _every_third_word_swapped(para: str) -> str:
    """Every third word of two or more Chinese characters replaced by a word of its length."""
    out, seen, taken = [], 0, 0
    for word in jieba.lcut(para):
        if len(word) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            seen += 1
            others = _donor_words().get(len(word), [])
            if seen % 3 == 0 and others:
                out.append(others[taken * 7 % len(others)])
                taken += 1
                continue
        out.append(word)
    return "".join(out)


@pytest.mark.parametrize(("ref_id", "prefix"), [
    ("jiguan-gongwei", "我个人在抓区直机关党建工作"), ("jiguan-gongwei", "区直机关工委现管理"),
    ("jianshe-ju", "（一）坚持以上率下")])
def test_a_paragraph_with_a_third_of_its_words_swapped_is_one_copy(ref_id: str, prefix: str,
                                                                   check: Check) -> None:
    """Heavy synonym swapping keeps a copy's sentences in place: the whole paragraph is found,
    as one highlight, from its template (the words between the swaps hold it in step)."""
    disguised = _every_third_word_swapped(template_paragraph(ref_id, prefix))
    assert disguised != template_paragraph(ref_id, prefix)
    host = _host(2)
    text = "\n".join([host[0], disguised, host[1]])
    result = check(text)
    start = text.index(disguised)
    assert uncovered_content(text, result, start, start + len(disguised)) == ""
    assert [h.source for h in highlights(result)] == [ref_id]


# -- what kind of copy --------------------------------------------------------------------------

def _swapped_word() -> tuple[str, str]:
    """A template sentence with one word replaced by a synonym, as a writer disguises it."""
    copied = "督促基层党组织认真落实各项工作措施，购置配发学习资料XX余册，为党员学习提供保障。"
    return copied.replace("认真落实", "切实执行"), "jiguan-gongwei"


@pytest.mark.parametrize(("make", "kind"), [
    pytest.param(_one_sentence_in_original_paragraph, "verbatim", id="verbatim"),
    pytest.param(lambda: _filled_in("区直机关工委现管理"), "filled", id="filled"),
    pytest.param(_reordered, "reordered", id="reordered"),
    pytest.param(_traditional, "converted", id="converted"),
    pytest.param(lambda: _hard_wrapped(alone=False), "rewrapped", id="rewrapped"),
    pytest.param(lambda: Case(_host(1)[0] + _swapped_word()[0], copied=[_swapped_word()]),
                 "swapped", id="swapped"),
])
def test_each_match_says_what_kind_of_copy_it_is(make: Callable[[], Case], kind: str,
                                                 check: Check) -> None:
    """The copy's own disguise is among the kinds of the matches over it (and is the kind of
    most of its characters); a verbatim sentence is nothing but verbatim."""
    case = make()
    part, source = case.copied[0]
    start = case.text.index(part)
    touching = [m for m in all_matches(check(case.text))
                if m.start < start + len(part) and start < m.end and m.source.id == source]
    assert touching and all(m.kind == m.kinds[0] for m in touching)
    assert all(kind in m.kinds for m in touching if kind != "reordered"), \
        [(m.kinds, m.text[:20]) for m in touching]
    chars = {k: sum(m.end - m.start for m in touching if m.kind == k) for k in KIND_ORDER}
    assert max(chars, key=lambda k: chars[k]) == kind, chars
    if kind == "verbatim":
        assert [m.kinds for m in touching] == [["verbatim"]]


KIND_ORDER = ("reordered", "swapped", "converted", "rewrapped", "filled", "verbatim")


# -- patchwork ---------------------------------------------------------------------------------

def _folded(text: str) -> str:
    """Letters only, each run of figures or placeholders as one 0 (as the templates are filled)."""
    return re.sub(r"[0-9一二三四五六七八九十X]+", "0", re.sub(r"[^\w]", "", text))


def _own_sentence(ref_id: str, skip: int = 0) -> str:
    """A sentence (20 to 120 characters) of one template that shares no run of 13 characters
    with any other template: it has one right source."""
    others = "\n".join(_folded(template(t)) for t in TEMPLATE_IDS if t != ref_id)
    found = [s for s in sentences(template(ref_id)) if 20 <= len(s) <= 120
             and not any(_folded(s)[i : i + 13] in others for i in range(len(_folded(s)) - 12))]
    return found[skip]


@pytest.mark.parametrize("order", [TEMPLATE_IDS[:4], TEMPLATE_IDS[::-1][:4]],
                         ids=["forward", "backward"])
def test_a_paragraph_stitched_from_four_templates_credits_each_sentence(
        order: tuple[str, ...], check: Check) -> None:
    """Patchwork (拼凑): one paragraph of four sentences, each from another template, some with
    their placeholders filled, inside a report of original paragraphs. Every sentence is found
    whole and credited to its own template, none to the paragraph's other sources."""
    stitched = [_fill_in(_own_sentence(ref_id, k)) for k, ref_id in enumerate(order)]
    host = _host(2)
    text = "\n".join([host[0], "".join(stitched), host[1]])
    result = check(text)
    matches = all_matches(result)
    for sentence, ref_id in zip(stitched, order, strict=True):
        start = text.index(sentence)
        end = start + len(sentence)
        assert uncovered_content(text, result, start, end) == "", (ref_id, sentence)
        touching = {m.source.id for m in matches if m.start < end and start < m.end}
        assert touching == {ref_id}, (sentence, touching)
    own = [(0, len(host[0])), (len(text) - len(host[1]), len(text))]
    assert not [m.text for m in matches for a, b in own if m.start < b and a < m.end]


@pytest.mark.parametrize(("extra", "credited"), [(2, "jiguan-gongwei"), (20, "later-copy")])
def test_a_near_tie_is_credited_to_the_earlier_reference(extra: int, credited: str) -> None:
    """A later report that copied a template paragraph explains a new copy of it a few
    characters better (its own copy runs on into what the new report has around the
    paragraph): within the tie tolerance the template, indexed first, is the source; a copy
    that explains clearly more wins."""
    from app.core import Reference, build_index, bundled_corpus_dir, check_text, load_corpus

    para = template_paragraph("jiguan-gongwei", "我个人在抓区直机关党建工作")
    host = _host(1)[0]
    before, after = host[-extra:], "本年度各项任务全面完成，取得显著成效。"
    query = host + para + after
    copy = Reference("later-copy", "另起一段。" + before + para + after[:extra])
    index = build_index([*load_corpus(bundled_corpus_dir()), copy])
    result = check_text(query, index)
    sources = {m.source.id for m in all_matches(result) if m.end > len(query) - len(para) - 40}
    assert sources == {credited}
