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

from .table import KEY_MASK, SortedTable

K = 8
STRIDE = 6
MIN_RUN = K + STRIDE - 1  # the shortest run found whatever its alignment to the sampling
MAX_POSTINGS = 4000  # a window in more places than this is boilerplate, not one source
_BASE = np.uint64(0x100000001B3)  # FNV prime: a well-mixed odd multiplier
_POWERS = np.array([_BASE ** np.uint64(K - 1 - j) for j in range(K)], dtype=np.uint64)


def window_hashes(chars: str) -> np.ndarray:
    """Hash of every K-window of ``chars`` (len(chars) - K + 1 values, uint64, with the low
    bits of a table key left zero)."""
    if len(chars) < K:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = sliding_window_view(codes, K)
    with np.errstate(over="ignore"):
        h = (windows * _POWERS).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
    return h & KEY_MASK


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
    """Sampled window hash -> (doc, position), in memory."""

    def __init__(self) -> None:
        self.table = SortedTable(np.uint64)

    def __len__(self) -> int:
        return len(self.table)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.table.add(keys, values)

    def hits(self, query: str) -> Hits:
        at, values, counts = self.table.lookup(window_hashes(query), MAX_POSTINGS)
        return Hits(at.astype(np.int64), (values >> np.uint64(32)).astype(np.int64),
                    (values & np.uint64(0xFFFFFFFF)).astype(np.int64), crowding(counts))


def crowding(counts: np.ndarray) -> np.ndarray:
    """Per query window, the places left out because the window is in more than MAX_POSTINGS
    (a table's counts of every key)."""
    return np.where(counts > MAX_POSTINGS, counts, 0).astype(np.int64)


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


def common_mask(n_chars: int, docs: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                crowded: np.ndarray, needed: int) -> np.ndarray:
    """Normalised query characters that at least ``needed`` documents share with the query:
    the corpus's own stock phrases (see shared_counts)."""
    return shared_counts(n_chars, docs, starts, ends, crowded) >= needed


def shared_counts(n_chars: int, docs: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  crowded: np.ndarray) -> np.ndarray:
    """Per normalised query character, how many documents share it with the query verbatim.
    The spans ``docs``/``starts``/``ends`` are the verbatim runs found (of any length); a
    document counts once per character however often it repeats the phrase. A crowded window
    (too many places to list) counts its number of places over STRIDE neighbouring windows,
    which is how many times the corpus holds it (one kept window per STRIDE positions)."""
    diff = np.zeros(n_chars + 1, dtype=np.int64)
    if len(docs):
        docs = np.unique(docs, return_inverse=True)[1]  # dense: docs * scale below stays small
        order = np.lexsort((starts, docs))
        docs, starts, ends = docs[order], starts[order], ends[order]
        # what an earlier span of the same doc covered counts once: a running maximum of the
        # ends within each doc (the doc number, scaled, keeps it from crossing docs)
        scale = np.int64(n_chars + 1)
        reach = np.maximum.accumulate(docs * scale + ends) - docs * scale
        covered_to = np.where(np.r_[True, docs[1:] != docs[:-1]], -1, np.r_[-1, reach[:-1]])
        first = np.maximum(starts, covered_to)
        ok = first < ends
        np.add.at(diff, first[ok], 1)
        np.add.at(diff, ends[ok], -1)
    counts = np.cumsum(diff)[:n_chars]
    if crowded.any():
        # the places of STRIDE neighbouring windows ending at i, given to each crowded window
        # among them, then to the K characters of that window
        places = np.convolve(crowded, np.ones(STRIDE, dtype=np.int64))[: len(crowded)]
        ahead = np.r_[places, np.zeros(STRIDE - 1, dtype=np.int64)]
        window = np.where(crowded > 0, sliding_window_view(ahead, STRIDE).max(axis=1), 0)
        behind = np.r_[np.zeros(K - 1, dtype=np.int64), window,
                       np.zeros(max(0, n_chars - len(window)), dtype=np.int64)]
        counts = np.maximum(counts, sliding_window_view(behind, K).max(axis=1)[:n_chars])
    return counts


@dataclass(frozen=True)
class Groups:
    """Hits on one diagonal (same doc, same offset) at most STRIDE query positions apart: each
    group is one verbatim run seen through its kept windows, [q0, q1) before growing."""

    docs: np.ndarray
    diag: np.ndarray
    q0: np.ndarray
    q1: np.ndarray

    def __len__(self) -> int:
        return len(self.docs)


def lex_order(*keys: np.ndarray) -> np.ndarray:
    """The order of ``np.lexsort(keys[::-1])`` (the first key major) for non-negative integer
    keys, but with equal keys in no particular order (every caller treats them alike): one
    argsort of the keys packed into a uint64 when their bits fit, instead of three, and not a
    stable one (a stable sort of a check's tens of thousands of keys takes 2.7 times as long).
    When the positions fit below the keys too, the packed words are sorted directly and the
    order read from their low bits: a direct sort takes a third of an indirect one's time."""
    bits = [int(k.max()).bit_length() if len(k) else 0 for k in keys]
    if sum(bits) > 64 or any(len(k) and k.min() < 0 for k in keys):
        return np.lexsort(keys[::-1])
    n = len(keys[0])
    packed = np.zeros(n, dtype=np.uint64)
    for key, width in zip(keys, bits, strict=True):
        packed <<= np.uint64(width)
        packed |= key.astype(np.uint64)
    place_bits = max(n - 1, 1).bit_length()
    if sum(bits) + place_bits > 64:
        return np.argsort(packed)
    packed <<= np.uint64(place_bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64((1 << place_bits) - 1)).view(np.int64)


def group_hits(hits: Hits) -> Groups:
    qpos, docs, diag = hits.qpos, hits.docs, hits.dpos - hits.qpos
    # diagonals shifted to be non-negative: a document position is never below 0
    order = lex_order(docs, diag + (int(qpos.max()) if len(qpos) else 0), qpos)
    qpos, docs, diag = qpos[order], docs[order], diag[order]
    new = np.ones(len(qpos), dtype=bool)
    new[1:] = (docs[1:] != docs[:-1]) | (diag[1:] != diag[:-1]) | (qpos[1:] - qpos[:-1] > STRIDE)
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(qpos) - 1] if len(first) else first
    return Groups(docs[first], diag[first], qpos[first], qpos[last] + K)


def strongest(groups: Groups, unit_starts: np.ndarray, per_unit: int) -> np.ndarray:
    """Which groups to keep: for each query unit (the one a group starts in), the groups of the
    ``per_unit`` documents with the longest run there; on equal length the earlier-indexed
    document (the original, not a later copy of it) wins."""
    if not len(groups):
        return np.zeros(0, dtype=bool)
    unit = np.clip(np.searchsorted(unit_starts, groups.q0, side="right") - 1, 0, None)
    length = groups.q1 - groups.q0
    # each (unit, doc) pair by its longest group
    order = lex_order(unit, groups.docs, int(length.max()) - length)
    u, d, n = unit[order], groups.docs[order], length[order]
    head = np.r_[True, (u[1:] != u[:-1]) | (d[1:] != d[:-1])]
    pu, pd, pn = u[head], d[head], n[head]
    # pairs ranked within their unit: longest first, then the lower doc
    rank_order = lex_order(pu, int(pn.max()) - pn, pd)
    ru = pu[rank_order]
    unit_first = np.r_[True, ru[1:] != ru[:-1]]
    position = np.arange(len(ru))
    rank = position - np.maximum.accumulate(np.where(unit_first, position, 0))
    kept_pair = np.zeros(len(pu), dtype=bool)
    kept_pair[rank_order] = rank < per_unit
    # back to groups: every group of a kept pair
    pair_of_sorted = np.cumsum(head) - 1
    keep = np.zeros(len(groups), dtype=bool)
    keep[order] = kept_pair[pair_of_sorted]
    return keep


def grow_runs(query: str, groups: Groups, which: np.ndarray,
              chars_of: dict[int, str]) -> list[Run]:
    """The chosen groups grown to their full extent and checked character by character (a hash
    collision reports nothing); groups split by a skipped window grow alike and count once."""
    out: list[Run] = []
    seen: set[tuple[int, int, int]] = set()
    for i in np.flatnonzero(which).tolist():
        doc, diag = int(groups.docs[i]), int(groups.diag[i])
        run = _grown(query, chars_of[doc], int(groups.q0[i]), int(groups.q1[i]), diag)
        if run is not None and (doc, *run) not in seen:
            seen.add((doc, *run))
            out.append(Run(doc, run[0], run[1], run[0] + diag, run[1] + diag))
    return out


def exact_runs(query: str, hits: Hits, chars_of: dict[int, str], min_len: int) -> list[Run]:
    """Every maximal verbatim run of at least ``min_len`` characters the hits show."""
    groups = group_hits(hits)
    runs = grow_runs(query, groups, np.ones(len(groups), dtype=bool), chars_of)
    return [r for r in runs if r.q_end - r.q_start >= min_len]


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
