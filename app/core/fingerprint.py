"""jieba tokens -> shingles -> MinHash signatures, with fixed seeds and stable hashing.

A unit's shingles are its words and its ordered pairs of neighbouring words. A word hashes as
datasketch's SHA-1 hash of its UTF-8 (remembered: the same words recur in every report); a pair
hashes from its two words' hashes in one numpy step, so no pair is ever spelled out as a string.
The signature is datasketch's MinHash of those hash values: its seeded permutations and its
pre-mix, applied to all units of a batch in one numpy step instead of one MinHash object per
unit (a test compares the values). Nothing uses Python's salted ``hash()``, so a signature is
the same in every process and after a restart.
"""

from __future__ import annotations

import logging

import jieba
import numpy as np
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32
from datasketch.minhash import _fmix

from .memo import Memo
from .words import cut

NUM_PERM = 128
SEED = 20240601
SCHEME = "affine32"  # datasketch's hashing scheme; part of the saved index's format
SHINGLES = "words+pairs-mix64"  # how shingles are hashed; part of the saved index's format

jieba.setLogLevel(logging.WARNING)


def tokens(chars: str) -> list[str]:
    """jieba words of a normalised unit (no HMM: new-word guessing is slower and less stable),
    as ``jieba.lcut(chars, HMM=False)`` gives them, in half its time."""
    return cut(chars)


# datasketch's SHA-1 hash of each word's UTF-8, remembered: the same words recur in every report
_WORD_HASHES: Memo[str, int] = Memo(lambda word: sha1_hash32(word.encode("utf-8")), 1 << 20)


def pair_hashes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """32-bit hashes of ordered word pairs from their words' hashes: the two packed into 64 bits
    and mixed with splitmix64's finaliser, so (a, b) and (b, a) differ and each bit of either
    word reaches every bit kept."""
    x = first.astype(np.uint64) << np.uint64(32) | second.astype(np.uint64)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(32)).astype(np.uint32)


def shingle_hashes(chars: str) -> np.ndarray:
    """The hash values of one normalised unit's shingles (its words, then its word pairs)."""
    hashes = np.array([_WORD_HASHES[w] for w in tokens(chars)], dtype=np.uint32)
    return np.concatenate([hashes, pair_hashes(hashes[:-1], hashes[1:])])


_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
_EMPTY = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).hashvalues
_CHUNK = 1 << 15  # shingle hashes permuted at a time: bounds the (n, NUM_PERM) scratch array


def signatures(units: list[str]) -> np.ndarray:
    """MinHash signatures of normalised units, shape (len(units), NUM_PERM), uint32; a unit
    without words keeps the empty signature."""
    out = np.empty((len(units), NUM_PERM), dtype=np.uint32)
    out[:] = _EMPTY
    words: list[str] = []
    counts: list[int] = []
    for chars in units:
        unit_words = tokens(chars)
        words.extend(unit_words)
        counts.append(len(unit_words))
    if not words:
        return out
    hashes = np.array([_WORD_HASHES[w] for w in words], dtype=np.uint32)
    owner = np.repeat(np.arange(len(units)), counts)
    pairs = hashes.copy()  # a unit's last word starts no pair; its own hash leaves the min as is
    same = np.flatnonzero(owner[1:] == owner[:-1])
    pairs[same] = pair_hashes(hashes[same], hashes[same + 1])
    # each word, then the pair it starts: a unit's shingles stay together, for reduceat
    shingled = _fmix(np.stack([hashes, pairs], axis=1).ravel(), 32)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    bounds = np.r_[starts * 2, len(shingled)]
    a, b = _PERMUTATIONS
    first = 0
    while first < len(starts):  # whole units at a time, about _CHUNK shingles
        last = max(first + 1, int(np.searchsorted(bounds, bounds[first] + _CHUNK, "right")) - 1)
        last = min(last, len(starts))
        lo, hi = bounds[first], bounds[last]
        permuted = shingled[lo:hi, None] * a + b  # uint32 wraps: mod 2**32, as in datasketch
        out[owner[starts[first:last]]] = np.minimum.reduceat(permuted, bounds[first:last] - lo,
                                                             axis=0)
        first = last
    return out
