"""Formulas (规定表述) on real text: the bundled templates' own formulas, a formula inside a copied
paragraph, the options, and how a formula shows in the result.

What the templates share is found here independently of the checker: lines compared with
difflib after folding figures and placeholders, as a reader would compare them."""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

import pytest
from api_helpers import TestClient, isolated_settings
from support import PROVINCIAL, TEMPLATE_IDS, host_paragraphs, provincial_text, sentences, template
from typer.testing import CliRunner

from app.api.main import create_app
from app.cli import app as cli_app
from app.core import CheckOptions, CheckResult, Reference, ReferenceIndex, build_index, check_text
from app.core.exclusions import Exclusions
from app.core.formulas import FormulaRule

NEAR = 0.7  # lines this alike once folded are the same line worded a little differently
HELD = 3  # the default formula_min_refs: the bundled corpus has 5 references, 20 % of it is 1


def _fold(text: str) -> str:
    """Letters only, every run of figures or placeholders as one 0."""
    return re.sub(r"[0-9一二三四五六七八九十X]+", "0", re.sub(r"[^\w]", "", text))


@cache
def _lines(ref_id: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in template(ref_id).split("\n") if line.strip())


def _holders(text: str) -> int:
    """Templates with a line near-identical to ``text``."""
    return sum(any(SequenceMatcher(None, _fold(text), _fold(line)).ratio() >= NEAR
                   for line in _lines(ref_id)) for ref_id in TEMPLATE_IDS)


def _matches(result: CheckResult) -> list:
    return [m for p in result.paragraphs for m in p.matches]


@pytest.mark.parametrize("ref_id", TEMPLATE_IDS)
def test_the_formula_list_of_the_bundled_corpus(ref_id: str, index: ReferenceIndex) -> None:
    """A template checked against the bundled corpus: the formulas it names are the lines three
    or more templates hold (its title, the opening line, the section headings), each with how
    many hold it; every such line long enough to be matched is named; none counts."""
    result = check_text(template(ref_id), index)
    named = {f.text: f for f in result.formulas}
    assert named, "every template opens with the corpus's formulas"
    for text, formula in named.items():
        assert 3 <= formula.refs <= _holders(text), (text, formula.refs)
        assert formula.share == round(formula.refs / len(TEMPLATE_IDS), 4)
        assert not formula.counted and formula.occurrences == 1
    shared = {line for line in _lines(ref_id)
              if len(_fold(line)) >= 10 and _holders(line) >= HELD}
    assert shared <= set(named), shared - set(named)
    for m in _matches(result):
        assert (m.formula_refs is not None) == (m.text in named)
        assert m.excluded is None or m.formula_refs is not None


@pytest.fixture(scope="module")
def provinces() -> ReferenceIndex:
    """18 provincial reports: every one opens its year's plan with the same guiding formula.
    (Zhejiang and Yunnan are left out: the host text below is theirs.)"""
    names = sorted(p.stem for p in PROVINCIAL.glob("*.docx"))
    return build_index([Reference(n, provincial_text(n)) for n in names
                        if n not in ("2025-浙江省", "2025-云南省")])


GUIDING = ("坚持以习近平新时代中国特色社会主义思想为指导，"
           "全面贯彻党的二十大和二十届二中、三中全会精神，")


def _with_formula() -> tuple[str, str]:
    """Jiangsu's paragraph of this year's requirements, copied whole, and an own paragraph that
    writes the guiding formula among its own sentences."""
    plan = next(line.strip() for line in provincial_text("2025-江苏省").split("\n")
                if "总体要求" in line and GUIDING in line)
    own = sentences(host_paragraphs()[1])
    return plan, "".join(own[:2]) + GUIDING + "".join(own[2:5])


def test_a_formula_inside_a_copied_paragraph_does_not_lower_its_copy(
        provinces: ReferenceIndex) -> None:
    """The copied paragraph holds the guiding formula: it counts in full, from its source, as
    with count_formulas. The same formula in an own paragraph is named a formula held by most
    of the corpus and left out of the ratio, and raw_copy_ratio and excluded_chars say so."""
    plan, own = _with_formula()
    text = "\n".join([host_paragraphs()[0], plan, own])
    options = CheckOptions(exclusions=Exclusions(common_share=None))
    result = check_text(text, provinces, options)
    counted = check_text(text, provinces, CheckOptions(
        exclusions=Exclusions(common_share=None, count_formulas=True)))
    copied = next(p for p in result.paragraphs if text[p.start : p.end] == plan)
    assert {m.source.id for m in copied.matches} == {"2025-江苏省"}
    assert all(m.excluded is None and m.formula_refs is None for m in copied.matches)
    assert copied.copied_chars == copied.chars
    assert copied == next(p for p in counted.paragraphs if p.index == copied.index)
    alone = next(p for p in result.paragraphs if text[p.start : p.end] == own)
    [formula] = [m for m in alone.matches if GUIDING[:20] in m.text]
    assert formula.excluded == "formula" and formula.formula_refs is not None
    assert formula.formula_refs >= FormulaRule().needed(len(provinces))
    assert result.excluded_chars["formula"] >= len(_fold(GUIDING))
    assert result.raw_copied_chars == result.copied_chars + sum(result.excluded_chars.values())
    assert counted.copy_ratio == counted.raw_copy_ratio == result.raw_copy_ratio
    assert any(f.text == formula.text and not f.counted for f in result.formulas)
    assert all(f.counted for f in counted.formulas)


def test_formulas_can_be_turned_off_or_made_rarer(provinces: ReferenceIndex) -> None:
    """formula_share 0 (Exclusions.formulas None) names no formula; the guiding formula is held
    by all 18 references, so a share of 1 still names it, and a minimum of 19 does not."""
    _, own = _with_formula()
    off = check_text(own, provinces, CheckOptions(exclusions=Exclusions(common_share=None,
                                                                        formulas=None)))
    assert off.formulas == [] and all(m.formula_refs is None for m in _matches(off))
    assert off.copy_ratio == off.raw_copy_ratio > 0
    every = check_text(own, provinces, CheckOptions(exclusions=Exclusions(
        common_share=None, formulas=FormulaRule(share=1.0))))
    assert [(f.refs, f.share) for f in every.formulas] == [(len(provinces), 1.0)]
    rare = check_text(own, provinces, CheckOptions(exclusions=Exclusions(
        common_share=None, formulas=FormulaRule(min_refs=len(provinces) + 1))))
    assert rare.formulas == [] and rare.copy_ratio == off.copy_ratio


@pytest.mark.parametrize("bad", [{"share": 0}, {"share": 1.5}, {"min_refs": 1}])
def test_bad_formula_rules_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="formula"):
        FormulaRule(**bad)


def test_the_formula_options_through_the_cli_and_the_api(tmp_path: Path) -> None:
    """--count-formulas / count_formulas put a copied template's formulas back in the ratio;
    --formula-share 0 / formula_share 0 names none; a bad share is refused."""
    text = template("minzheng-ju")
    report = tmp_path / "report.txt"
    report.write_text(text, encoding="utf-8")
    runner = CliRunner()

    def cli(*flags: str) -> dict:
        done = runner.invoke(cli_app, ["check", "--format", "json", *flags, str(report)])
        assert done.exit_code == 1, done.output  # a copied template fails
        return json.loads(done.output)

    default, counted, none = cli(), cli("--count-formulas"), cli("--formula-share", "0")
    assert default["formulas"] and default["copy_ratio"] < default["raw_copy_ratio"]
    assert counted["copy_ratio"] == counted["raw_copy_ratio"] == default["raw_copy_ratio"]
    assert all(f["counted"] for f in counted["formulas"])
    assert none["formulas"] == [] and none["copy_ratio"] <= none["raw_copy_ratio"]
    assert runner.invoke(cli_app, ["check", "--formula-min-refs", "1", str(report)]).exit_code == 2
    with TestClient(create_app(isolated_settings(tmp_path))) as client:
        api = client.post("/v1/check", json={"text": text, "count_formulas": True}).json()
        assert api["copy_ratio"] == counted["copy_ratio"] and api["formulas"] == counted["formulas"]
        off = client.post("/v1/check", json={"text": text, "formula_share": 0,
                                             "common_share": 0, "use_stock_phrases": False})
        assert off.json()["formulas"] == [] and off.json()["copy_ratio"] == api["copy_ratio"]
        bad = client.post("/v1/check", json={"text": text, "formula_share": 2})
        assert bad.status_code == 422
