"""Exact seeds: every K-character window of the normalised references, hashed.

LSH finds units that are *similar as a whole*; it can miss a verbatim run inside an otherwise
original sentence. This table finds every shared run of K or more normalised characters, which is
what guarantees that any copied run of ``min_match_chars`` (>= K) is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

K = 8
_BASE = np.uint64(0x100000001B3)  # FNV prime: a well-mixed odd multiplier
_POWERS = np.array([_BASE ** np.uint64(K - 1 - j) for j in range(K)], dtype=np.uint64)


def window_hashes(chars: str) -> np.ndarray:
    """Hash of every K-window of ``chars`` (len(chars) - K + 1 values, uint64)."""
    if len(chars) < K:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = sliding_window_view(codes, K)
    with np.errstate(over="ignore"):
        h = (windows * _POWERS).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
    return h


@dataclass(frozen=True)
class Run:
    """A verbatim run: query[q_start:q_end] == reference doc's chars[s_start:s_end]."""

    doc: int
    q_start: int
    q_end: int
    s_start: int
    s_end: int


class SeedTable:
    """Sorted (hash, doc, position) triples of every K-window of every reference."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)
        self._docs = np.empty(0, dtype=np.uint32)
        self._pos = np.empty(0, dtype=np.uint32)

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, doc: int, chars: str) -> None:
        h = window_hashes(chars)
        hashes = np.concatenate([self._hashes, h])
        docs = np.concatenate([self._docs, np.full(len(h), doc, dtype=np.uint32)])
        pos = np.concatenate([self._pos, np.arange(len(h), dtype=np.uint32)])
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._docs, self._pos = hashes[order], docs[order], pos[order]

    def remove(self, doc: int) -> None:
        keep = self._docs != doc
        self._hashes, self._docs, self._pos = self._hashes[keep], self._docs[keep], self._pos[keep]

    def hits(self, query: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query position, doc, doc position) of every shared K-window."""
        h = window_hashes(query)
        if not len(h) or not len(self._hashes):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        lo = np.searchsorted(self._hashes, h, side="left")
        hi = np.searchsorted(self._hashes, h, side="right")
        counts = hi - lo
        qpos = np.repeat(np.arange(len(h)), counts)
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True) if b > a]) \
            if counts.any() else np.empty(0, dtype=np.int64)
        return qpos, self._docs[idx].astype(np.int64), self._pos[idx].astype(np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._hashes, self._docs, self._pos

    @classmethod
    def from_arrays(cls, hashes: np.ndarray, docs: np.ndarray, pos: np.ndarray) -> SeedTable:
        table = cls()
        table._hashes = np.asarray(hashes, dtype=np.uint64)
        table._docs = np.asarray(docs, dtype=np.uint32)
        table._pos = np.asarray(pos, dtype=np.uint32)
        return table


def exact_runs(query: str, qpos: np.ndarray, docs: np.ndarray, dpos: np.ndarray,
               chars_of: dict[int, str], min_len: int) -> list[Run]:
    """Group window hits into maximal verbatim runs of at least ``min_len`` characters.

    Hits on one diagonal (same doc, same offset) with consecutive query positions form one run;
    each run is checked character by character, so a hash collision reports nothing."""
    if not len(qpos):
        return []
    diag = dpos - qpos
    order = np.lexsort((qpos, diag, docs))
    out: list[Run] = []
    start = 0
    n = len(order)
    for i in range(1, n + 1):
        a, b = order[i - 1], order[i] if i < n else -1
        if i < n and docs[b] == docs[a] and diag[b] == diag[a] and qpos[b] == qpos[a] + 1:
            continue
        first = order[start]
        q0, q1 = int(qpos[first]), int(qpos[a]) + K
        doc = int(docs[a])
        s0 = q0 + int(diag[a])
        ref = chars_of[doc]
        if q1 - q0 >= min_len and query[q0:q1] == ref[s0 : s0 + (q1 - q0)]:
            out.append(Run(doc, q0, q1, s0, s0 + (q1 - q0)))
        start = i
    return out
