"""jieba tokens -> shingles -> MinHash signatures, with fixed seeds and stable hashing.

datasketch hashes each shingle with SHA-1 and permutes with a seeded generator, so a signature is
the same in every process and after a restart (Python's salted ``hash()`` is never used).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from itertools import pairwise

import jieba
import numpy as np
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

NUM_PERM = 128
SEED = 20240601
SCHEME = "affine32"  # datasketch's hashing scheme; part of the saved index's format

jieba.setLogLevel(logging.WARNING)


def tokens(chars: str) -> list[str]:
    """jieba words of a normalised unit (no HMM: new-word guessing is slower and less stable)."""
    return jieba.lcut(chars, HMM=False)


def shingles(chars: str) -> set[bytes]:
    """Word unigrams and bigrams: unigrams survive synonym swaps, bigrams keep word order."""
    words = tokens(chars)
    out = {w.encode("utf-8") for w in words}
    out.update(f"{a} {b}".encode() for a, b in pairwise(words))
    return out


# datasketch's own SHA-1 hash, remembered: the same words recur in every report
_hash = lru_cache(maxsize=1 << 18)(sha1_hash32)


def signatures(units: list[str]) -> np.ndarray:
    """MinHash signatures of normalised units, shape (len(units), NUM_PERM), uint32."""
    out = np.empty((len(units), NUM_PERM), dtype=np.uint32)
    batches = (sorted(shingles(chars)) for chars in units)
    minhashes = MinHash.generator(batches, num_perm=NUM_PERM, seed=SEED, scheme=SCHEME,
                                  hashfunc=_hash)
    for i, m in enumerate(minhashes):
        out[i] = m.hashvalues
    return out
