"""Banded LSH over MinHash signatures, stored as flat sorted arrays.

Each of ``bands`` bands hashes ``rows`` signature values to one 64-bit key; a unit is a candidate
for a query when any band key is equal. Keys and unit ids live in a SortedTable (sorted uint64
keys beside uint32 unit ids), so the table costs 12 bytes per unit and band with no per-key Python
object, is saved as plain records searched on disk block by block, and grows without a rebuild.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import numpy as np

from .cache import remembered, version_of
from .table import KEY_MASK, SortedTable, counted

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: a multiplicative hash step
# A band key shared by more units than this is a stock phrase (or a unit too short to say
# anything): it cannot tell which reference a unit came from, and reading its postings would
# cost more than the rest of a check. Its votes are left out; verbatim seeds still see the text.
MAX_BAND_POSTINGS = 1000

# a query's ranking key: query number, then bands missed, then unit id, in one uint64
_UNIT_BITS = np.uint64(32)
_UNIT_MASK = np.uint64(0xFFFFFFFF)
_OWNER_SHIFT = np.uint64(40)
_VOTE_MASK = np.uint64(0xFF)
_QUERIES_PER_CALL = 1 << 24  # query numbers fit the key's top 24 bits


@lru_cache(maxsize=8)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) that minimise false positives plus false negatives at ``threshold``,
    with datasketch's own optimiser so the trade-off matches its MinHashLSH (a numerical
    integration over every split, with SciPy: kept in the cache folder)."""
    found = remembered(f"lsh-{version_of('datasketch')}-{threshold}-{num_perm}",
                       lambda: {"params": np.array(_optimal(threshold, num_perm))})
    bands, rows = found["params"].tolist()
    return int(bands), int(rows)


def _optimal(threshold: float, num_perm: int) -> tuple[int, int]:
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


@lru_cache(maxsize=8)
def _band_hash(bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The band hash in closed form. Step by step, a band's key starts at 0, takes ``key * MIX +
    value + row + 1`` for each of its rows, then ``key * MIX + band + 1``; unrolled (mod 2**64)
    that is each row's value times a power of MIX, plus a constant of the band."""
    mix, mod = int(_MIX), 1 << 64
    powers = [pow(mix, rows - r, mod) for r in range(rows)]
    steps = sum((r + 1) * p for r, p in enumerate(powers))
    constants = [(steps + band + 1) % mod for band in range(bands)]
    return np.array(powers, np.uint64), np.array(constants, np.uint64)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Band keys, shape (n, bands), uint64 with the low bits of a table key left zero; the band
    number is mixed in so keys of different bands never collide by construction. Part of the
    saved index's format."""
    powers, constants = _band_hash(bands, rows)
    values = np.asarray(sigs)[:, : bands * rows].reshape(-1, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = (values * powers).sum(axis=2, dtype=np.uint64)
        keys += constants
        keys ^= keys >> np.uint64(29)
    return keys & KEY_MASK


def rank_votes(query: np.ndarray, unit: np.ndarray, n_queries: int, bands: int,
               limit: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """For the band postings (query number, unit) of ``n_queries`` queries: per query, the units
    found and how many bands each shares with it (its votes), most votes first, then the lower
    unit (``unit`` < 2**32 orders the ties: an earlier reference wins); at most ``limit``."""
    if not len(unit):
        none = np.empty(0, np.int64)
        return [(none, none)] * n_queries
    if n_queries == 1:  # one query: fewer steps (numpy's per-call cost is most of it)
        found, votes = counted(np.sort(unit))
        order = np.argsort(-votes, kind="stable")[:limit]
        return [(found[order].astype(np.int64), votes[order])]
    # two sorts of one uint64 each, where unique plus lexsort took twice as long: (query,
    # unit) pairs, whose repeats are the votes; then (query, bands - votes, unit)
    pairs, votes = counted(np.sort(np.asarray(query, np.uint64) << _UNIT_BITS
                                   | np.asarray(unit, np.uint64)))
    if limit is not None:
        pairs, votes = _strong_enough(pairs, votes, n_queries, limit)
    ranked = np.sort((pairs >> _UNIT_BITS) << _OWNER_SHIFT
                     | (np.uint64(bands) - votes.astype(np.uint64)) << _UNIT_BITS
                     | (pairs & _UNIT_MASK))
    units_out = (ranked & _UNIT_MASK).astype(np.int64)
    votes_out = bands - ((ranked >> _UNIT_BITS) & _VOTE_MASK).astype(np.int64)
    bounds = np.searchsorted(ranked >> _OWNER_SHIFT, np.arange(n_queries + 1, dtype=np.uint64))
    return [(units_out[a:b][:limit], votes_out[a:b][:limit]) for a, b in pairwise(bounds)]


def _strong_enough(pairs: np.ndarray, votes: np.ndarray, n_queries: int,
                   limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The (query, unit) pairs (sorted) that can be among a query's ``limit`` strongest: every
    pair of more than one vote, and a query's single-vote pairs, in unit order, only as far as
    its stronger ones leave room. Nearly all of a check's pairs share one band: they are
    dropped before the sort that ranks the rest."""
    single = votes == 1
    query = (pairs >> _UNIT_BITS).astype(np.int64)
    room = np.maximum(limit - np.bincount(query[~single], minlength=n_queries), 0)
    where = np.flatnonzero(single)
    first_of_query = np.searchsorted(query[where], np.arange(n_queries))  # among single ones
    place = np.arange(len(where)) - first_of_query[query[where]]
    keep = ~single
    keep[where[place < room[query[where]]]] = True
    return pairs[keep], votes[keep]


class BandTable:
    """Candidate lookup in memory: which units share a band key with a query signature."""

    def __init__(self, bands: int, rows: int) -> None:
        self.bands = bands
        self.rows = rows
        self.table = SortedTable(np.uint32)

    def __len__(self) -> int:
        return len(self.table) // max(self.bands, 1)

    def add(self, unit_ids: np.ndarray, sigs: np.ndarray) -> None:
        self.add_keys(unit_ids, band_keys(sigs, self.bands, self.rows))

    def add_keys(self, unit_ids: np.ndarray, keys: np.ndarray) -> None:
        """Add precomputed band keys, shape (len(unit_ids), bands)."""
        self.table.add(keys.ravel(), np.repeat(np.asarray(unit_ids, np.uint32), self.bands))

    def query(self, sigs: np.ndarray, limit: int | None = None
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query signature, the unit ids sharing at least one band key and how many
        bands each shares (its votes), most votes first, then lower unit id; at most ``limit``."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for a in range(0, len(sigs), _QUERIES_PER_CALL):
            chunk = sigs[a : a + _QUERIES_PER_CALL]
            at, units, _ = self.table.lookup(band_keys(chunk, self.bands, self.rows).ravel(),
                                             MAX_BAND_POSTINGS)
            out += rank_votes(at // self.bands, units, len(chunk), self.bands, limit)
        return out
