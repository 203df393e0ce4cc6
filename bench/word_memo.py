#!/usr/bin/env python3
"""The word-hash memo's limit: time, words hashed again and words held, side by side.

    python bench/word_memo.py --corpus bench/data/gen300k --n 10000

Prepares the same ``--n`` references of a corpus (as a build's worker does: analysis,
signatures, band keys, seeds) once for each way, in turns, ``--rounds`` times, each round
beginning with the next way: the memo of this version (generations of ``--limit`` words), one
that only grows (to a million words, as before), and none (every word hashed). Reports the
fastest round of each, what share of word lookups hashed a word again, and how many words the
memo held at the end. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core import fingerprint
from app.core.corpus import corpus_files, iter_corpus
from app.core.index import LSH_THRESHOLD, prepare
from app.core.lsh import lsh_params
from app.core.memo import Memo


class Counted:
    """Counts calls of the hash function a memo computes with."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, word: str) -> int:
        self.calls += 1
        return fingerprint.sha1_hash32(word.encode("utf-8"))


class Unremembered:
    """No memo: every lookup hashes the word."""

    def __init__(self, fn: Counted) -> None:
        self.fn = fn

    def __getitem__(self, word: str) -> int:
        return self.fn(word)


class Census(Unremembered):
    """Counts lookups and distinct words (in an untimed pass)."""

    def __init__(self, fn: Counted) -> None:
        super().__init__(fn)
        self.lookups = 0
        self.words: set[str] = set()

    def __getitem__(self, word: str) -> int:
        self.lookups += 1
        self.words.add(word)
        return self.fn(word)


def _grows(fn: Counted) -> dict[str, int]:
    """The memo before generations: filled to a million words, then emptied."""
    class Grows(dict[str, int]):
        def __missing__(self, word: str) -> int:
            if len(self) >= 1 << 20:
                self.clear()
            self[word] = value = fn(word)
            return value
    return Grows()


def _prepare_all(refs: list[Any], memo: Any) -> float:
    bands, rows = lsh_params(LSH_THRESHOLD, fingerprint.NUM_PERM)
    fingerprint._WORD_HASHES = memo
    start = time.perf_counter()
    for ref in refs:
        prepare(ref, bands, rows)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--limit", type=int, default=fingerprint._WORD_HASHES.limit)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    refs = list(iter_corpus(args.corpus, corpus_files(args.corpus)[: args.n]))
    census = Census(Counted())
    _prepare_all(refs, census)  # also loads the compiled cutter and the caches before timing
    ways: dict[str, Callable[[Counted], Any]] = {
        "generations": lambda fn: Memo(fn, args.limit),
        "grows_to_a_million": _grows,
        "none": Unremembered,
    }
    best: dict[str, dict[str, Any]] = {}
    order = list(ways)
    for round_ in range(args.rounds):  # each round starts with another way: no way always first
        for name in order[round_ % len(order):] + order[: round_ % len(order)]:
            make = ways[name]
            fn = Counted()
            memo = make(fn)
            seconds = _prepare_all(refs, memo)
            held = len(memo) + len(getattr(memo, "_previous", {})) if isinstance(memo, dict) else 0
            row = {"seconds": round(seconds, 2), "words_hashed": fn.calls,
                   "hashed_again_share": round((fn.calls - len(census.words)) / census.lookups, 4),
                   "words_held": held}
            if name not in best or seconds < best[name]["seconds"]:
                best[name] = row
    print(json.dumps({"corpus": str(args.corpus), "references": len(refs), "limit": args.limit,
                      "lookups": census.lookups, "distinct_words": len(census.words),
                      "ways": best}))


if __name__ == "__main__":
    main()
