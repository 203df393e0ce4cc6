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

import hashlib
from functools import cache

import numpy as np

from .cache import remembered, version_of
from .memo import Memo
from .words import cut

NUM_PERM = 128
SEED = 20240601
SCHEME = "affine32"  # datasketch's hashing scheme; part of the saved index's format
SHINGLES = "words+pairs-mix64"  # how shingles are hashed; part of the saved index's format

def tokens(chars: str) -> list[str]:
    """jieba words of a normalised unit (no HMM: new-word guessing is slower and less stable),
    as ``jieba.lcut(chars, HMM=False)`` gives them, in half its time."""
    return cut(chars)


def sha1_hash32(data: bytes) -> int:
    """datasketch's ``sha1_hash32``: the first four bytes of the SHA-1 digest, little-endian."""
    return int.from_bytes(hashlib.sha1(data).digest()[:4], "little")


# datasketch's SHA-1 hash of each word's UTF-8, remembered: the same words recur in every report.
# 8,192 a generation: of generated reports' words, 1.3 % are then hashed again, and it holds
# at most 16,384 words however many reports a process reads (bench/word_memo.py)
_WORD_HASHES: Memo[str, int] = Memo(lambda word: sha1_hash32(word.encode("utf-8")), 1 << 13)


def _from_datasketch() -> dict[str, np.ndarray]:
    from datasketch.minhash import _FMIX_CONSTANTS, MinHash

    made = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    a, b = made.permutations
    return {"a": a, "b": b, "empty": made.hashvalues,
            "fmix": np.array(_FMIX_CONSTANTS[32], dtype=np.uint64)}


@cache
def minhash_parameters() -> dict[str, np.ndarray]:
    """datasketch's permutations, empty signature and pre-mix constants for our MinHash, from
    datasketch once and then from the cache folder: importing datasketch takes half a second
    (it imports SciPy), longer than a check."""
    return remembered(f"minhash-{version_of('datasketch')}-{NUM_PERM}-{SEED}-{SCHEME}",
                      _from_datasketch)


def fmix32(values: np.ndarray) -> np.ndarray:
    """datasketch's pre-mix (MurmurHash3's 32-bit finaliser) with its constants."""
    s1, m1, s2, m2, s3 = (np.uint32(c) for c in minhash_parameters()["fmix"])
    values = np.asarray(values, np.uint32)
    with np.errstate(over="ignore"):
        values = values ^ (values >> s1)
        values = values * m1
        values = values ^ (values >> s2)
        values = values * m2
        return values ^ (values >> s3)


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


_CHUNK = 1 << 15  # shingle hashes permuted at a time: bounds the (n, NUM_PERM) scratch array


def signatures(units: list[str]) -> np.ndarray:
    """MinHash signatures of normalised units, shape (len(units), NUM_PERM), uint32; a unit
    without words keeps the empty signature."""
    parameters = minhash_parameters()
    out = np.empty((len(units), NUM_PERM), dtype=np.uint32)
    out[:] = parameters["empty"]
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
    shingled = fmix32(np.stack([hashes, pairs], axis=1).ravel())
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    bounds = np.r_[starts * 2, len(shingled)]
    a, b = parameters["a"], parameters["b"]
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
