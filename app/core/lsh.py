"""Banded LSH over MinHash signatures, stored as flat sorted arrays.

Each of ``bands`` bands hashes ``rows`` signature values to one 64-bit key; a unit is a candidate
for a query when any band key is equal. Keys and unit ids live in a SortedTable (sorted uint64
keys beside uint32 unit ids), so the table costs 12 bytes per unit and band with no per-key Python
object, is saved as plain records searched on disk block by block, and grows without a rebuild.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from datasketch.lsh import _optimal_param

from .table import SortedTable

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: a multiplicative hash step
# A band key shared by more units than this is a stock phrase (or a unit too short to say
# anything): it cannot tell which reference a unit came from, and reading its postings would
# cost more than the rest of a check. Its votes are left out; verbatim seeds still see the text.
MAX_BAND_POSTINGS = 1000


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) that minimise false positives plus false negatives at ``threshold``,
    with datasketch's own optimiser so the trade-off matches its MinHashLSH."""
    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Band keys, shape (n, bands), uint64; the band number is mixed in so keys of different
    bands never collide by construction."""
    values = np.asarray(sigs, dtype=np.uint64)
    keys = np.zeros((values.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys *= _MIX
            keys += values[:, r : bands * rows : rows][:, :bands]
            keys += np.uint64(r + 1)
        keys *= _MIX
        keys += np.arange(1, bands + 1, dtype=np.uint64)
        keys ^= keys >> np.uint64(29)
    return keys


class BandTable:
    """Candidate lookup: which units share a band key with a query signature."""

    def __init__(self, bands: int, rows: int, table: SortedTable | None = None) -> None:
        self.bands = bands
        self.rows = rows
        self.table = table or SortedTable(np.uint32)

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
        keys = band_keys(sigs, self.bands, self.rows)
        at, units, _ = self.table.lookup(keys.ravel(), MAX_BAND_POSTINGS)
        if len(keys) == 1:  # one query: the same answer with fewer steps
            found, votes = np.unique(units, return_counts=True)
            order = np.argsort(-votes, kind="stable")[:limit]
            return [(found[order].astype(np.int64), votes[order])]
        pairs, votes = np.unique((at // self.bands).astype(np.uint64) << np.uint64(32)
                                 | units.astype(np.uint64), return_counts=True)
        owner = (pairs >> np.uint64(32)).astype(np.int64)
        units = (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
        order = np.lexsort((units, -votes, owner))
        owner, units, votes = owner[order], units[order], votes[order]
        bounds = np.searchsorted(owner, np.arange(len(keys) + 1))
        return [(units[a:b][:limit], votes[a:b][:limit]) for a, b in pairwise(bounds)]
