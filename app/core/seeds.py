"""Exact seeds: K-character windows of the normalised references, hashed and sampled.

LSH finds units that are *similar as a whole*; it can miss a verbatim run inside an otherwise
original sentence. This table finds shared runs of normalised characters. A reference keeps only
the windows starting at every STRIDE-th position (a sixth of the table a dense one needs), while a
query looks up all of its windows: any shared run of MIN_RUN = K + STRIDE - 1 characters or more
covers at least one kept window, so every such run is found, then grown character by character to
its full length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .table import SortedTable

K = 8
STRIDE = 6
MIN_RUN = K + STRIDE - 1  # the shortest run found whatever its alignment to the sampling
MAX_POSTINGS = 4000  # a window in more places than this is boilerplate, not one source
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


def sampled_windows(chars: str) -> tuple[np.ndarray, np.ndarray]:
    """(hash, position) of the windows a reference keeps: those starting at multiples of
    STRIDE."""
    h = window_hashes(chars)[::STRIDE]
    return h, np.arange(len(h), dtype=np.uint64) * np.uint64(STRIDE)


def pack(doc: int | np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(doc, position) in one uint64: the table's value."""
    return (np.asarray(doc, np.uint64) << np.uint64(32)) | np.asarray(pos, np.uint64)


@dataclass(frozen=True)
class Run:
    """A verbatim run: query[q_start:q_end] == reference doc's chars[s_start:s_end]."""

    doc: int
    q_start: int
    q_end: int
    s_start: int
    s_end: int


class SeedTable:
    """Sampled window hash -> (doc, position), as a SortedTable."""

    def __init__(self, table: SortedTable | None = None) -> None:
        self.table = table or SortedTable(np.uint64)

    def __len__(self) -> int:
        return len(self.table)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.table.add(keys, values)

    def hits(self, query: str) -> Hits:
        at, values, skipped = self.table.lookup(window_hashes(query), MAX_POSTINGS)
        return Hits(at.astype(np.int64), (values >> np.uint64(32)).astype(np.int64),
                    (values & np.uint64(0xFFFFFFFF)).astype(np.int64), skipped)


@dataclass(frozen=True)
class Hits:
    """Every shared window: query position, doc, doc position; and per query window how many
    places were left out because the window is in too many (MAX_POSTINGS)."""

    qpos: np.ndarray
    docs: np.ndarray
    dpos: np.ndarray
    crowded: np.ndarray

    def only(self, keep: np.ndarray) -> Hits:
        return Hits(self.qpos[keep], self.docs[keep], self.dpos[keep], self.crowded)


def common_mask(n_chars: int, runs: list[Run], crowded: np.ndarray, needed: int) -> np.ndarray:
    """Normalised query characters that at least ``needed`` documents share with the query:
    the corpus's own stock phrases. ``runs`` are all verbatim runs (of any length found); a
    document counts once per character however often it repeats the phrase. A crowded window
    (too many places to list) counts its number of places over STRIDE neighbouring windows,
    which is how many times the corpus holds it (one kept window per STRIDE positions)."""
    by_doc: dict[int, list[tuple[int, int]]] = {}
    for run in runs:
        by_doc.setdefault(run.doc, []).append((run.q_start, run.q_end))
    diff = np.zeros(n_chars + 1, dtype=np.int64)
    for spans in by_doc.values():
        end = -1
        for start, stop in sorted(spans):
            first = max(start, end)  # what an earlier span of this doc covered counts once
            if first < stop:
                diff[first] += 1
                diff[stop] -= 1
            end = max(end, stop)
    mask = np.cumsum(diff)[:n_chars] >= needed
    if crowded.any():
        places = np.convolve(crowded, np.ones(STRIDE, dtype=np.int64))[: len(crowded)]
        for i in np.flatnonzero(places >= needed).tolist():
            for q in range(max(0, i - STRIDE + 1), i + 1):
                if crowded[q]:
                    mask[q : q + K] = True
    return mask


def exact_runs(query: str, hits: Hits, chars_of: dict[int, str], min_len: int) -> list[Run]:
    """Group window hits into maximal verbatim runs of at least ``min_len`` characters.

    Hits of one run lie on one diagonal (same doc, same offset) at most STRIDE query positions
    apart; each group is grown to its full extent and checked character by character, so a
    hash collision reports nothing."""
    qpos, docs = hits.qpos, hits.docs
    if not len(qpos):
        return []
    diag = hits.dpos - qpos
    order = np.lexsort((qpos, diag, docs))
    out: list[Run] = []
    seen: set[tuple[int, int, int]] = set()  # groups split by a skipped window grow alike
    start = 0
    n = len(order)
    for i in range(1, n + 1):
        a, b = order[i - 1], order[i] if i < n else -1
        if i < n and docs[b] == docs[a] and diag[b] == diag[a] and qpos[b] - qpos[a] <= STRIDE:
            continue
        run = _grown(query, chars_of[int(docs[a])], int(qpos[order[start]]),
                     int(qpos[a]) + K, int(diag[a]))
        if run is not None and run[1] - run[0] >= min_len and (int(docs[a]), *run) not in seen:
            seen.add((int(docs[a]), *run))
            q0, q1 = run
            out.append(Run(int(docs[a]), q0, q1, q0 + int(diag[a]), q1 + int(diag[a])))
        start = i
    return out


def _grown(query: str, ref: str, q0: int, q1: int, diag: int) -> tuple[int, int] | None:
    """query[q0:q1] against ref at the same offset plus ``diag``, grown both ways while the
    characters agree; None when the hits were a hash collision."""
    if q0 + diag < 0 or q1 + diag > len(ref) or query[q0:q1] != ref[q0 + diag : q1 + diag]:
        return None
    while q0 > 0 and q0 + diag > 0 and query[q0 - 1] == ref[q0 - 1 + diag]:
        q0 -= 1
    while q1 < len(query) and q1 + diag < len(ref) and query[q1] == ref[q1 + diag]:
        q1 += 1
    return q0, q1
