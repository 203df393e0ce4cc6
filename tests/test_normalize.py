"""Normalisation: what folds together, what stays apart, and the map back to original offsets."""

from __future__ import annotations

import unicodedata

import opencc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import TEMPLATE_IDS, case_text, is_content, template, template_paragraph

from app.core import normalize as normalize_module
from app.core.normalize import NUMBER, normalize

_T2S = opencc.OpenCC("t2s")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("ＡＰＰ", "app", id="full-width-latin"),
    pytest.param("１２３个", "0个", id="full-width-digits"),
    pytest.param("Ｑ\u3000Ｑ群", "qq群", id="ideographic-space-dropped"),
    pytest.param("黨建工作", "党建工作", id="traditional"),
    pytest.param("發展黨員", "发展党员", id="traditional-2"),
    pytest.param("堅持黨要管黨、全面從嚴治黨方針", "坚持党要管党全面从严治党方针",
                 id="traditional-template-phrase"),
    pytest.param("，。、：；！？“”（）《》 \n\t\u3000", "", id="punctuation-and-space-dropped"),
])
def test_folding(text: str, expected: str) -> None:
    """Full-width forms, traditional characters, punctuation and spaces fold as the domain needs."""
    assert normalize(text).chars == expected


@pytest.mark.parametrize(("filled", "template_form"), [
    pytest.param("35个", "XX个", id="digits-vs-XX"),
    pytest.param("三十五个", "XX个", id="chinese-numeral-vs-XX"),
    pytest.param("第三次", "第X次", id="numeral-vs-X"),
    pytest.param("“12”活动", "“XX”活动", id="quoted-XX"),
    pytest.param("2024年", "2019年", id="year"),
    pytest.param("二十大", "十九大", id="congress-number"),
    pytest.param("１２党建APP", "XX党建APP", id="full-width-fill"),
    pytest.param("ｘｘ个", "XX个", id="full-width-x"),
])
def test_fill_ins_fold_to_the_template_form(filled: str, template_form: str) -> None:
    """A filled-in placeholder, a changed year or congress number reads as the template does."""
    assert normalize(filled).chars == normalize(template_form).chars
    assert NUMBER in normalize(template_form).chars


@pytest.mark.parametrize("run", ["XX", "X", "35", "2019", "三十五", "十九", "〇"])
def test_each_number_or_placeholder_run_is_one_symbol(run: str) -> None:
    """A run of digits, numerals or x's becomes exactly one NUMBER covering all of it."""
    norm = normalize(f"共{run}个")
    assert norm.chars == f"共{NUMBER}个"
    assert norm.original_span(1, 2) == (1, 1 + len(run))


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("Xbox", "xbox", id="x-at-word-start"),
    pytest.param("tax", "tax", id="x-at-word-end"),
    pytest.param("Excel表格", "excel表格", id="x-inside-word"),
    pytest.param("XXL号", "xxl号", id="x-run-glued-to-letters"),
    pytest.param("MAX值", "max值", id="upper-case-word"),
])
def test_latin_words_with_x_are_not_placeholders(text: str, expected: str) -> None:
    """An x that is part of a Latin word is a letter, not a placeholder."""
    assert normalize(text).chars == expected
    assert NUMBER not in normalize(text).chars


def test_placeholder_next_to_a_latin_word_still_folds() -> None:
    """XX党建APP: the XX is separated from APP by Chinese text, so it is a placeholder."""
    assert normalize("XX党建APP").chars == f"{NUMBER}党建app"


def _assert_offsets_map_back(text: str) -> None:
    norm = normalize(text)
    assert len(norm.starts) == len(norm.ends) == len(norm.chars)
    previous_end = 0
    for i, ch in enumerate(norm.chars):
        start, end = int(norm.starts[i]), int(norm.ends[i])
        assert previous_end <= start < end <= len(text), (i, start, end)
        piece = text[start:end]
        assert is_content(piece[0]) and is_content(piece[-1]), (i, piece)
        if ch != NUMBER:
            assert end - start == 1
            assert _T2S.convert(unicodedata.normalize("NFKC", piece).lower()) == ch, (i, piece)
        previous_end = end
    # every letter or number of the text is accounted for by exactly one normalised character
    covered = {i for s, e in zip(norm.starts, norm.ends, strict=True) for i in range(s, e)}
    assert {i for i, ch in enumerate(text) if is_content(ch)} <= covered


@pytest.mark.parametrize("name", TEMPLATE_IDS)
def test_offsets_map_back_on_templates(name: str) -> None:
    """starts/ends of every normalised character point at the original characters it came from."""
    _assert_offsets_map_back(template(name))


def test_offsets_map_back_on_host_text_with_traditional_and_full_width() -> None:
    """Offsets stay right on real host text mixed with traditional and full-width characters."""
    text = ("黨建工作ＡＰＰ２０２４年，" + case_text("case-000.txt")[:600]
            + "\r\n發展黨員XX名\u3000（一）Xbox")
    _assert_offsets_map_back(text)


def test_original_span_slices_a_template_sentence() -> None:
    """A normalised range maps back to exactly the original characters, punctuation inside."""
    para = template_paragraph("jiguan-gongwei", "2019年，区直机关")
    text = "前言。" + para
    norm = normalize(text)
    target = normalize("坚持党要管党、全面从严治党方针").chars
    at = norm.chars.index(target)
    start, end = norm.original_span(at, at + len(target))
    assert text[start:end] == "坚持党要管党、全面从严治党方针"


def test_number_symbol_maps_to_the_whole_filled_run() -> None:
    """The NUMBER for 2024 covers all four digits, so a highlight never cuts a number."""
    text = "2024年，市直机关"
    norm = normalize(text)
    assert norm.chars == f"{NUMBER}年市直机关"
    assert norm.original_span(0, 2) == (0, 5)
    assert text[slice(*norm.original_span(0, 1))] == "2024"


def test_empty_text() -> None:
    norm = normalize("")
    assert norm.chars == "" and len(norm.starts) == 0 and len(norm.ends) == 0


def test_text_of_many_distinct_characters_folds_each_and_keeps_the_tables_bounded() -> None:
    """The per-character tables behind normalize() are filled as characters are met; a text of
    more distinct code points than they keep (fuzzing, binary read as text) must still fold each
    character and not grow them without end."""
    letters = [chr(c) for c in range(0x20000, 0x40000)
               if unicodedata.category(chr(c)) == "Lo"]  # CJK extensions B and on
    assert len(letters) > normalize_module._TABLE_LIMIT
    text = "".join(letters) + "第XX个"
    norm = normalize(text)
    alone = [normalize(ch).chars for ch in letters]
    assert norm.chars == "".join(alone) + "第0个"
    assert norm.starts.tolist() == [i for i, a in enumerate(alone) if a] + \
        [len(letters), len(letters) + 1, len(letters) + 3]
    assert len(normalize_module._FOLDED) <= normalize_module._TABLE_LIMIT


_MIXED = st.text(st.one_of(
    st.sampled_from("全面从严治党第XX个三十五年2019．,，.·'xX()（）\n 　"),
    st.sampled_from("國傢發展ＡＢＣ１２３ﬁ㈠①⑴Ⅻ㍿\u200b\u00ad"),  # traditional, wide, several
    st.characters(max_codepoint=0x2FFFF)), max_size=80)


@settings(max_examples=400, deadline=None)
@given(_MIXED)
@example("ﬁ第XX个")  # a ligature folds to two letters: the whole text goes the general way
@example("𠀀第35个")  # beyond the basic plane
def test_folding_by_arrays_gives_what_folding_by_translate_gives(text: str) -> None:
    """normalize() folds a text of the basic plane by gathers from arrays; the general way (a
    dict lookup per character) must give the very same stream and offsets."""
    fast = normalize(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(normalize_module, "_PLANE", 0)  # every text the general way
        general = normalize(text)
    assert fast.chars == general.chars
    assert fast.starts.tolist() == general.starts.tolist()
    assert fast.ends.tolist() == general.ends.tolist()
