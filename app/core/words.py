"""jieba's segmentation with HMM off (``jieba.lcut(text, HMM=False)``), from a trie of its words.

jieba builds a dict of its 350,000 words and all their prefixes from a cache at the first cut of
every process, which takes half a second to a second: more than checking a report. Here its
words and counts are kept in a MARISA trie (``marisa-trie``) saved in the user's cache folder
and memory-mapped, which opens in a millisecond; it is made from jieba's own dictionary the
first time (and again when jieba or its dictionary change). For each position the words that
start there are the trie's prefixes of the text from there, found in one call; the best route
is then chosen right to left as jieba chooses it, and jieba's regular expressions cut the
blocks, so the words are jieba's (tests compare the two on the bundled corpora and on random
text, so a jieba release that cut differently would fail them). jieba's HMM mode, user
dictionaries and parallel mode are not used here.

That route is Python, about 4.5 µs a character: most of the time an index build spends. Once a
process has cut more than ``COMPILED_AFTER`` characters, jieba's blocks go to rjieba instead
(jieba's algorithm and dictionary compiled, about 13 times faster; the same tests hold it to
jieba's words). Its import builds its dictionary, a fifth of a second, so a command that checks
one report stays on the trie. rjieba gets only blocks jieba's own expression cut: its own
expression also takes CJK extension characters into a block, and jieba's words around them would
differ.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from math import log
from pathlib import Path
from typing import TYPE_CHECKING

import marisa_trie
import numpy as np

from .cache import cache_dir, read_arrays, version_of, write_arrays

if TYPE_CHECKING:
    import jieba


@dataclass(frozen=True)
class Dictionary:
    trie: marisa_trie.Trie
    scores: list[float]  # per word id: log(count) - log(total), jieba's score of the word
    unknown: float  # the score of a character that is no word: log(1) - log(total)
    longest: int  # characters of the longest word
    han: re.Pattern[str]  # jieba's regular expressions: blocks of words, what it skips,
    skip: re.Pattern[str]  # and letters and digits that run together
    eng: re.Pattern[str]


_LOCK = threading.Lock()
_LOADED: Dictionary | None = None
# about as many characters as the trie's route cuts in the time rjieba's import takes
COMPILED_AFTER = 50_000
_cut_so_far = 0
_compiled: Callable[[str], list[str]] | None = None


def dictionary() -> Dictionary:
    """jieba's dictionary as a trie: from the cache folder, or made (and saved) the first
    time."""
    global _LOADED  # noqa: PLW0603 - one dictionary per process, made once
    with _LOCK:
        if _LOADED is None:
            _LOADED = _load()
        return _LOADED


def _load() -> Dictionary:
    """jieba itself is imported only to make the cache (its import alone takes a fifth of a
    second)."""
    spec = find_spec("jieba")
    assert spec is not None and spec.origin is not None, "jieba is not installed"
    source = Path(spec.origin).parent / "dict.txt"  # jieba's default dictionary
    stat = source.stat()
    key = f"jieba-{version_of('jieba')}-{stat.st_size}-{int(stat.st_mtime)}"
    folder = cache_dir()
    trie_file = folder / f"{key}.marisa" if folder is not None else None
    arrays = read_arrays(key)
    if trie_file is not None and trie_file.exists() and arrays is not None:
        try:
            return _with(marisa_trie.Trie().mmap(str(trie_file)), arrays)
        except (OSError, ValueError, KeyError, RuntimeError):  # marisa's I/O: RuntimeError
            pass  # cut short: made again below
    import jieba

    jieba.setLogLevel(logging.WARNING)
    trie, arrays = _make(jieba.Tokenizer())  # jieba's default dictionary, the slow way once
    if trie_file is not None:
        try:
            temporary = f"{trie_file}.{os.getpid()}.tmp"
            trie.save(temporary)
            os.replace(temporary, trie_file)
            write_arrays(key, arrays)
        except OSError:
            pass  # a read-only cache folder: the dictionary is made again next time
    return _with(trie, arrays)


def _make(tokenizer: jieba.Tokenizer) -> tuple[marisa_trie.Trie, dict[str, np.ndarray]]:
    import jieba

    tokenizer.check_initialized()
    words = {w: c for w, c in tokenizer.FREQ.items() if c}
    trie = marisa_trie.Trie(words)
    log_total = log(tokenizer.total)
    scores = np.zeros(len(trie), np.float64)
    for word, count in words.items():
        scores[trie.key_id(word)] = log(count) - log_total
    patterns = (jieba.re_han_default, jieba.re_skip_default, jieba.re_eng)
    return trie, {"scores": scores, "unknown": np.array([-log_total]),
                  "longest": np.array([max(map(len, words))]),
                  "patterns": np.array([p.pattern for p in patterns]),
                  "flags": np.array([p.flags for p in patterns])}


def _with(trie: marisa_trie.Trie, arrays: dict[str, np.ndarray]) -> Dictionary:
    if len(arrays["scores"]) != len(trie):
        raise ValueError("the dictionary's scores do not match its trie")
    han, skip, eng = (re.compile(str(p), int(f))
                      for p, f in zip(arrays["patterns"], arrays["flags"], strict=True))
    return Dictionary(trie, arrays["scores"].tolist(), float(arrays["unknown"][0]),
                      int(arrays["longest"][0]), han, skip, eng)


def from_tokenizer(tokenizer: jieba.Tokenizer) -> Dictionary:
    """The trie of a jieba tokenizer's dictionary."""
    return _with(*_make(tokenizer))


def compiled_cutter() -> Callable[[str], list[str]]:
    """rjieba's cut with HMM off, imported once per process."""
    global _compiled  # noqa: PLW0603 - one import per process
    with _LOCK:
        if _compiled is None:
            import rjieba

            _compiled = partial(rjieba.cut, hmm=False)
        return _compiled


def cut(text: str, known: Dictionary | None = None) -> list[str]:
    """The words of ``text``, as ``jieba.lcut(text, HMM=False)`` gives them (with jieba's
    default dictionary unless another is given)."""
    global _cut_so_far  # noqa: PLW0603 - how much this process has cut, to choose the route
    words: list[str] = []
    compiled = _compiled
    if known is None:
        known = dictionary()
        if compiled is None:
            _cut_so_far += len(text)
            if _cut_so_far > COMPILED_AFTER:
                compiled = compiled_cutter()
    else:
        compiled = None  # another dictionary: only the trie has it
    for block in known.han.split(text):
        if not block:
            continue
        if known.han.match(block):
            if compiled is not None:
                words += compiled(block)
            else:
                _cut_block(block, known, words)
            continue
        for part in known.skip.split(block):
            if known.skip.match(part):
                words.append(part)
            else:
                words.extend(part)  # anything else: one character a word
    return words


def _cut_block(block: str, known: Dictionary, words: list[str]) -> None:
    n = len(block)
    prefixes, scores, longest = known.trie.iter_prefixes_with_ids, known.scores, known.longest
    eng = known.eng.match
    score = [0.0] * (n + 1)  # the best route's log probability from each position to the end
    end = [0] * n  # where the best route's first word from each position ends
    for k in range(n - 1, -1, -1):
        best = known.unknown + score[k + 1]  # no word: the character alone
        best_end = k + 1
        found = False
        for word, word_id in prefixes(block[k : k + longest]):  # shortest first
            value = scores[word_id] + score[k + len(word)]
            if not found or value >= best:  # a tie goes to the longer word, as in jieba
                best, best_end, found = value, k + len(word), True
        score[k] = best
        end[k] = best_end
    x = 0
    buf = ""
    while x < n:
        y = end[x]
        word = block[x:y]
        if y - x == 1 and eng(word):  # single letters and digits run together
            buf += word
        else:
            if buf:
                words.append(buf)
                buf = ""
            words.append(word)
        x = y
    if buf:
        words.append(buf)
