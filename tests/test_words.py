"""The segmenter gives jieba's own words (``jieba.lcut(text, HMM=False)``), by either route (the
trie's route in Python, and rjieba once a process has cut enough): on every unit and line of the
bundled templates, the dev set and the provincial reports, on random text that mixes Chinese,
Latin letters, digits, the symbols jieba keeps in a block, CJK extension characters, punctuation
and white space, and on random runs of dictionary words, where two routes often score alike."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import CASES, DEV, PROVINCIAL, TEMPLATE_IDS, provincial_text, template

from app.core import words
from app.core.document import analyse
from app.core.words import cut, from_tokenizer


@pytest.fixture(params=["trie", "compiled"], autouse=True)
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both routes."""
    if request.param == "trie":
        monkeypatch.setattr(words, "_compiled", None)
        monkeypatch.setattr(words, "COMPILED_AFTER", 10**18)
    else:
        monkeypatch.setattr(words, "_compiled", words.compiled_cutter())
    return str(request.param)

PROVINCIAL_NAMES = sorted(p.stem for p in PROVINCIAL.glob("*.docx"))


def texts() -> list[str]:
    out = [template(ref_id) for ref_id in TEMPLATE_IDS]
    out += [p.read_text(encoding="utf-8") for p in sorted((DEV / "corpus").glob("*.txt"))]
    out += [p.read_text(encoding="utf-8") for p in sorted(CASES.glob("*.txt"))]
    return out + [provincial_text(name) for name in PROVINCIAL_NAMES]


def test_the_corpora_are_cut_as_jieba_cuts_them() -> None:
    pieces = []
    for text in texts():
        doc = analyse(text)
        pieces += [doc.unit_chars(u) for u in doc.units]  # what signatures are made of
        pieces += text.splitlines()  # raw text: punctuation, spaces, full-width forms
    assert len(PROVINCIAL_NAMES) == 20
    assert len(pieces) > 20_000
    differ = [p for p in pieces if cut(p) != jieba.lcut(p, HMM=False)]
    assert differ == []


ALPHABET = st.sampled_from([*list(
    "中华人民共和国全面从严治党工作报告推进高质量发展建设的了和在是一二三十百千万年月日个次"
    "abcxyzXYZ0123456789+#&._%-，。、；：！？“”（）《》 \t\n\r　ａＢ１２·…—的的的"),
    "㐀", "\u9fd6", "\u9fff", "\U00020000", "\U0001f600", "é", "ｶ", "\x00"])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_random_text_is_cut_as_jieba_cuts_it(text: str) -> None:
    assert cut(text) == jieba.lcut(text, HMM=False)


@pytest.mark.parametrize("text", ["", "a", "A1b2", "x+y", "中", "  ", "\r\n", "2024年XX个"])
def test_short_texts(text: str) -> None:
    assert cut(text) == jieba.lcut(text, HMM=False)


def test_a_tie_goes_to_the_longer_first_word_as_in_jieba(tmp_path: Path) -> None:
    """甲 + 乙丙 and 甲乙 + 丙 score the same with this dictionary: jieba's max() over (score,
    end) takes the longer first word, and so must the one-pass route."""
    dictionary = tmp_path / "dict.txt"
    dictionary.write_text("甲 4\n甲乙 4\n乙丙 1\n丙 1\n", encoding="utf-8")
    tokenizer = jieba.Tokenizer(str(dictionary))
    tokenizer.tmp_dir = str(tmp_path)  # its dictionary cache
    known = from_tokenizer(tokenizer)
    for text in ("甲乙丙", "甲乙丙甲乙丙", "丙甲乙丙"):
        assert cut(text, known) == tokenizer.lcut(text, HMM=False)
    assert cut("甲乙丙", known) == ["甲乙", "丙"]


@cache
def dictionary_words() -> list[str]:
    jieba.dt.check_initialized()
    return sorted(w for w, count in jieba.dt.FREQ.items() if count)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=12))
def test_runs_of_dictionary_words_are_cut_as_jieba_cuts_them(picks: list[int]) -> None:
    known = dictionary_words()
    text = "".join(known[k % len(known)] for k in picks)
    assert cut(text) == jieba.lcut(text, HMM=False)


def test_a_process_changes_route_after_enough_text(monkeypatch: pytest.MonkeyPatch,
                                                   route: str) -> None:
    monkeypatch.setattr(words, "_compiled", None)
    monkeypatch.setattr(words, "_cut_so_far", 0)
    monkeypatch.setattr(words, "COMPILED_AFTER", 100)
    cut("全面从严治党" * 10)
    assert words._compiled is None  # 60 characters: still the trie
    cut("全面从严治党" * 10)
    assert words._compiled is not None
