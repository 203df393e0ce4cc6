"""The one-pass segmenter gives jieba's own words (``jieba.lcut(text, HMM=False)``): on every
unit and line of the bundled templates, the dev set and the provincial reports, and on random
text that mixes Chinese, Latin letters, digits, the symbols jieba keeps in a block, punctuation
and white space."""

from __future__ import annotations

from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import CASES, DEV, PROVINCIAL, TEMPLATE_IDS, provincial_text, template

from app.core.document import analyse
from app.core.words import cut

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
    assert len(pieces) > 20_000
    differ = [p for p in pieces if cut(p) != jieba.lcut(p, HMM=False)]
    assert differ == []


ALPHABET = st.sampled_from(list(
    "中华人民共和国全面从严治党工作报告推进高质量发展建设的了和在是一二三十百千万年月日个次"
    "abcxyzXYZ0123456789+#&._%-，。、；：！？“”（）《》 \t\n\r　ａＢ１２·…—的的的"))


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
    for text in ("甲乙丙", "甲乙丙甲乙丙", "丙甲乙丙"):
        assert cut(text, tokenizer) == tokenizer.lcut(text, HMM=False)
    assert cut("甲乙丙", tokenizer) == ["甲乙", "丙"]
