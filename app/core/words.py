"""jieba's segmentation with HMM off (``jieba.lcut(text, HMM=False)``), in one pass a block.

jieba first builds, for every position, the list of dictionary words starting there (a dict of
lists), then picks the best route with a ``max`` over a generator of tuples per position, then
walks the route: about 40 % of the time it takes to index a reference. Here the route is
chosen as the words are found, right to left, over jieba's own dictionary (``jieba.dt.FREQ``,
``jieba.dt.total``) and with its regular expressions, so the words are jieba's (tests compare
the two on the bundled corpora and on random text, so a jieba release that cut differently
would fail them). jieba's HMM mode, user dictionaries and parallel mode are not used here.
"""

from __future__ import annotations

from math import log

import jieba


def cut(text: str, tokenizer: jieba.Tokenizer | None = None) -> list[str]:
    """The words of ``text``, as ``tokenizer.lcut(text, HMM=False)`` gives them (jieba's default
    tokenizer and dictionary unless another is given)."""
    tokenizer = tokenizer or jieba.dt
    tokenizer.check_initialized()
    freq, log_total = tokenizer.FREQ, log(tokenizer.total)
    words: list[str] = []
    for block in jieba.re_han_default.split(text):
        if not block:
            continue
        if jieba.re_han_default.match(block):
            _cut_block(block, freq, log_total, words)
            continue
        for part in jieba.re_skip_default.split(block):
            if jieba.re_skip_default.match(part):
                words.append(part)
            else:
                words.extend(part)  # anything else: one character a word
    return words


def _cut_block(block: str, freq: dict[str, int], log_total: float, words: list[str]) -> None:
    n = len(block)
    lookup = freq.get
    score = [0.0] * (n + 1)  # the best route's log probability from each position to the end
    end = [0] * n  # where the best route's first word from each position ends
    for k in range(n - 1, -1, -1):
        best: float | None = None
        best_end = k + 1
        i = k
        count = lookup(block[k])
        while count is not None:  # every dictionary word (or word prefix) starting at k
            if count:
                value = log(count) - log_total + score[i + 1]
                if best is None or value >= best:  # a tie goes to the longer word, as in jieba
                    best, best_end = value, i + 1
            i += 1
            if i == n:
                break
            count = lookup(block[k : i + 1])
        if best is None:  # no word: the character alone
            best = log(lookup(block[k]) or 1) - log_total + score[k + 1]
        score[k] = best
        end[k] = best_end
    x = 0
    buf = ""
    while x < n:
        y = end[x]
        word = block[x:y]
        if y - x == 1 and jieba.re_eng.match(word):  # single letters and digits run together
            buf += word
        else:
            if buf:
                words.append(buf)
                buf = ""
            words.append(word)
        x = y
    if buf:
        words.append(buf)
