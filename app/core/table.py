"""A multimap from uint64 keys to fixed-size values, kept as flat sorted arrays.

The base part may be a read-only memory map of a saved index: a lookup touches only the pages it
binary-searches, so a table far larger than memory costs little resident memory. Additions go to
an in-memory sorted tail searched beside the base; ``merged()`` folds the two together when an
index is saved. Entries are never deleted here: owners filter out removed documents, so a removal
never rewrites the base.
"""

from __future__ import annotations

import numpy as np


class SortedTable:
    def __init__(self, value_dtype: type[np.generic], keys: np.ndarray | None = None,
                 values: np.ndarray | None = None) -> None:
        self.value_dtype = np.dtype(value_dtype)
        self._keys = np.empty(0, np.uint64) if keys is None else keys
        self._values = np.empty(0, self.value_dtype) if values is None else values
        self._tail_keys = np.empty(0, np.uint64)
        self._tail_values = np.empty(0, self.value_dtype)

    def __len__(self) -> int:
        return len(self._keys) + len(self._tail_keys)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.concatenate([self._tail_keys, np.asarray(keys, np.uint64)])
        values = np.concatenate([self._tail_values, np.asarray(values, self.value_dtype)])
        order = np.argsort(keys, kind="stable")
        self._tail_keys, self._tail_values = keys[order], values[order]

    def _parts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(k, v) for k, v in ((self._keys, self._values),
                                    (self._tail_keys, self._tail_values)) if len(k)]

    def lookup(self, keys: np.ndarray, max_per_key: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into ``keys``, value) of every entry of every key, and per key how many
        entries were left out: a key with more than ``max_per_key`` entries in one part."""
        found_at: list[np.ndarray] = []
        found: list[np.ndarray] = []
        skipped = np.zeros(len(keys), dtype=np.int64)
        for table_keys, table_values in self._parts():
            lo = np.searchsorted(table_keys, keys, side="left")
            hi = np.searchsorted(table_keys, keys, side="right")
            n = hi - lo
            if max_per_key is not None:
                crowded = n > max_per_key
                skipped += np.where(crowded, n, 0)
                n = np.where(crowded, 0, n)
            total = int(n.sum())
            if not total:
                continue
            at = np.repeat(np.arange(len(keys)), n)
            # positions lo[i], lo[i]+1, ... for each key, without a Python loop
            offsets = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
            found_at.append(at)
            found.append(np.asarray(table_values[np.repeat(lo, n) + offsets]))
        if not found:
            return np.empty(0, np.int64), np.empty(0, self.value_dtype), skipped
        return np.concatenate(found_at), np.concatenate(found), skipped

    def merged(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """All entries as one sorted (keys, values) pair; ``keep`` is a boolean mask over the
        entries in base-then-tail order."""
        keys = np.concatenate([self._keys, self._tail_keys])
        values = np.concatenate([self._values, self._tail_values])
        if keep is not None:
            keys, values = keys[keep], values[keep]
        order = np.argsort(keys, kind="stable")
        return keys[order], values[order]

    def all_values(self) -> np.ndarray:
        """Values in base-then-tail order (the order ``merged``'s mask refers to)."""
        return np.concatenate([self._values, self._tail_values])
