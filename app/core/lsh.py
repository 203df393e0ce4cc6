"""Banded LSH over MinHash signatures, stored as flat sorted arrays.

Each of ``bands`` bands hashes ``rows`` signature values to one 64-bit key; a unit is a candidate
for a query when any band key is equal. Keys live in one sorted uint64 array beside a uint32 array
of unit ids, so the table costs 12 bytes per unit and band with no per-key Python object, can be
saved as plain arrays and is searched with ``np.searchsorted``. New units go to a small unsorted
tail that is merged in when it grows (an add never rebuilds the table).
"""

from __future__ import annotations

import numpy as np
from datasketch.lsh import _optimal_param

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: a multiplicative hash step
_TAIL_LIMIT = 50_000


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

    def __init__(self, bands: int, rows: int) -> None:
        self.bands = bands
        self.rows = rows
        self._keys = np.empty(0, dtype=np.uint64)
        self._units = np.empty(0, dtype=np.uint32)
        self._tail_keys: list[np.ndarray] = []
        self._tail_units: list[np.ndarray] = []
        self._tail_size = 0

    def __len__(self) -> int:
        return (len(self._keys) + self._tail_size) // max(self.bands, 1)

    def add(self, unit_ids: np.ndarray, sigs: np.ndarray) -> None:
        keys = band_keys(sigs, self.bands, self.rows)
        self._tail_keys.append(keys.ravel())
        self._tail_units.append(np.repeat(np.asarray(unit_ids, dtype=np.uint32), self.bands))
        self._tail_size += keys.size
        if self._tail_size >= _TAIL_LIMIT:
            self.compact()

    def compact(self) -> None:
        if not self._tail_size:
            return
        keys = np.concatenate([self._keys, *self._tail_keys])
        units = np.concatenate([self._units, *self._tail_units])
        order = np.argsort(keys, kind="stable")
        self._keys, self._units = keys[order], units[order]
        self._tail_keys, self._tail_units, self._tail_size = [], [], 0

    def remove(self, unit_ids: np.ndarray) -> None:
        self.compact()
        keep = ~np.isin(self._units, np.asarray(unit_ids, dtype=np.uint32))
        self._keys, self._units = self._keys[keep], self._units[keep]

    def query(self, sigs: np.ndarray) -> list[np.ndarray]:
        """For each query signature, the unit ids sharing at least one band key (unique)."""
        if self._tail_size * 10 > len(self._keys):  # a large tail is cheaper sorted than scanned
            self.compact()
        keys = band_keys(sigs, self.bands, self.rows)
        out = []
        for row in keys:
            lo = np.searchsorted(self._keys, row, side="left")
            hi = np.searchsorted(self._keys, row, side="right")
            found = [self._units[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
            for tk, tu in zip(self._tail_keys, self._tail_units, strict=True):
                found.append(tu[np.isin(tk, row)])
            out.append(np.unique(np.concatenate(found)) if found else np.empty(0, np.uint32))
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        self.compact()
        return self._keys, self._units

    @classmethod
    def from_arrays(cls, bands: int, rows: int, keys: np.ndarray, units: np.ndarray) -> BandTable:
        table = cls(bands, rows)
        table._keys = np.asarray(keys, dtype=np.uint64)
        table._units = np.asarray(units, dtype=np.uint32)
        return table
