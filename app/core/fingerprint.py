"""jieba tokens -> shingles -> MinHash signatures, with fixed seeds and stable hashing.

Signatures are datasketch MinHashes: its SHA-1 shingle hash, its seeded permutations and its
pre-mix, so a signature is the same in every process and after a restart (Python's salted
``hash()`` is never used). The permutations of all units of a batch are applied in one numpy
step instead of one MinHash object per unit; the values are identical (a test compares them).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from itertools import pairwise

import jieba
import numpy as np
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32
from datasketch.minhash import _fmix

from .words import cut

NUM_PERM = 128
SEED = 20240601
SCHEME = "affine32"  # datasketch's hashing scheme; part of the saved index's format

jieba.setLogLevel(logging.WARNING)


def tokens(chars: str) -> list[str]:
    """jieba words of a normalised unit (no HMM: new-word guessing is slower and less stable),
    as ``jieba.lcut(chars, HMM=False)`` gives them, in half its time."""
    return cut(chars)


def shingles(chars: str) -> set[bytes]:
    """Word unigrams and bigrams: unigrams survive synonym swaps, bigrams keep word order."""
    words = tokens(chars)
    out = {w.encode("utf-8") for w in words}
    out.update(f"{a} {b}".encode() for a, b in pairwise(words))
    return out


# datasketch's own SHA-1 hash, remembered: the same words recur in every report
_hash = lru_cache(maxsize=1 << 18)(sha1_hash32)


_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
_EMPTY = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).hashvalues


def signatures(units: list[str]) -> np.ndarray:
    """MinHash signatures of normalised units, shape (len(units), NUM_PERM), uint32."""
    out = np.empty((len(units), NUM_PERM), dtype=np.uint32)
    out[:] = _EMPTY
    hashes: list[int] = []
    owners: list[int] = []
    for i, chars in enumerate(units):
        unit_hashes = [_hash(s) for s in shingles(chars)]
        hashes.extend(unit_hashes)
        owners.extend([i] * len(unit_hashes))
    if not hashes:
        return out
    a, b = _PERMUTATIONS
    mixed = _fmix(np.array(hashes, dtype=np.uint32), 32)
    permuted = mixed[:, None] * a + b  # uint32 arithmetic wraps: mod 2**32, as datasketch
    owner = np.array(owners)
    firsts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    out[owner[firsts]] = np.minimum.reduceat(permuted, firsts, axis=0)
    return out
