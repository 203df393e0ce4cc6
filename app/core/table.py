"""A multimap from uint64 keys to fixed-size values, kept as sorted runs of (key, value).

Sorted keys are searched through a ``KeyDirectory`` (where each bucket of their top bits
starts) rather than by binary search, which misses the cache at nearly every step. A run in
memory (``ArrayRun``) is searched that way directly; the storage engine keeps runs on disk that
answer the same ``lookup``.

A table in memory (``SortedTable``) grows by whole sorted runs: each addition becomes a run of its
own, and the last two runs are merged while the older is less than twice the newer, so a table
of n entries has at most log2(n) runs and every entry is re-sorted O(log n) times (re-sorting the
whole table at each addition made n additions cost n**2). A key's entries in every run are
counted together: a key held more than ``max_per_key`` times in the whole table (a stock phrase)
answers with its count and no entries, however its entries are split between runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

# Keys are 40-bit: the low POSTING_BITS of every key are zero, so that a table saved on disk can
# keep a posting (a unit or a document number) in them and search one sorted array of words. At
# the 10**8 to 10**9 keys of a large index, two keys share their top 40 bits for about one
# looked-up key in a thousand: an extra candidate, which alignment then rejects.
POSTING_BITS = 24
KEY_MASK = np.uint64(((1 << 64) - 1) ^ ((1 << POSTING_BITS) - 1))


def ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [starts[i], starts[i] + counts[i]): the range number and the position of every
    member, in order, without a Python loop."""
    ends = np.cumsum(counts)
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(int(ends[-1]) if len(ends) else 0) + (starts - ends + counts)[owner]


def counted(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how often each occurs (``np.unique`` with
    ``return_counts``, without its sort)."""
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    first = np.flatnonzero(new)
    return ordered[first], np.diff(np.append(first, len(ordered)))


def distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by a sort: NumPy 2's hash-based ``unique`` takes several times as
    long on the few thousand integers of a lookup."""
    return counted(np.sort(values, axis=None))[0]


def sort_keys(keys: np.ndarray, threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(keys[order], order)`` for ``order = np.argsort(keys)``, equal keys in input order, for
    the hundreds of millions of keys of a large build in half of argsort's time.

    An indirect sort of 64-bit keys is several times slower than a direct one, so each key's
    top bits are sorted together with its position in the low bits, as one uint64. Keys that
    share those top bits come out in position order, not key order; such groups are few and
    small, and only they are sorted again. The sort and the gather of the keys by position (which
    misses the cache at every key) are split across ``threads``: numpy releases the GIL for both.
    """
    keys = np.asarray(keys, np.uint64)
    n = len(keys)
    bits = max(n - 1, 1).bit_length()
    if bits > 40:  # too few top bits left to be worth it
        order = np.argsort(keys, kind="stable")
        return keys[order], order
    low = np.uint64((1 << bits) - 1)
    packed = keys & ~low
    for a in range(0, n, 1 << 24):  # positions a chunk at a time: no second full-size array
        packed[a : a + (1 << 24)] |= np.arange(a, min(a + (1 << 24), n), dtype=np.uint64)
    step = -(-n // threads) if n else 1
    parts = [slice(a, a + step) for a in range(0, n, step)]
    if len(parts) > 1:  # split in place around the parts' bounds, then sort the parts
        packed.partition([part.start for part in parts[1:]])
    out = np.empty(n, np.uint64)
    with ThreadPoolExecutor(max(len(parts), 1)) as pool:
        list(pool.map(lambda part: packed[part].sort(), parts))
        packed &= low
        order = packed.view(np.int64)  # positions: below 2**40
        list(pool.map(lambda part: np.take(keys, order[part], out=out[part]), parts))
    # a descent is inside a group of keys sharing the top bits (the groups come in order): each
    # such group is sorted again, stably, by the whole key; the groups stay where they are
    descents = np.flatnonzero(out[1:] < out[:-1])
    if len(descents):
        tops = distinct(out[descents] & ~low)
        first = np.searchsorted(out, tops, side="left")
        last = np.searchsorted(out, tops | low, side="right")
        _, members = ranges(first, last - first)
        fix = np.argsort(out[members], kind="stable")
        out[members] = out[members][fix]
        order[members] = order[members][fix]
    return out, order


class KeyDirectory:
    """``np.searchsorted`` over sorted hash keys through a directory of where each bucket of
    top bits starts: one gather and a scan of a short window per key, where a binary search
    over a large array costs a cache miss at nearly every step. Keys are well-mixed hashes, so
    buckets are even; a key whose window is too short (a crowded key, repeated many times)
    falls back to the binary search."""

    WINDOW = 16  # keys scanned per searched key: two cache lines
    PER_BUCKET = 8  # mean keys a bucket: half a directory byte a key, few windows too short
    SMALL = 1024  # below this many keys a binary search is as fast
    FEW_SHORT = 8  # short windows searched one by one, below a binary search's call cost

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = keys
        self.size = len(keys)
        self.starts: np.ndarray | None = None
        if self.size >= self.SMALL:
            bits = min(max((self.size // self.PER_BUCKET).bit_length() - 1, 1), 32)
            self.shift = np.uint64(64 - bits)
            counts = np.bincount((keys >> self.shift).astype(np.intp), minlength=1 << bits)
            starts = np.zeros(len(counts) + 1, np.int64)
            np.cumsum(counts, out=starts[1:])
            self.starts = starts.astype(np.int32 if self.size < 1 << 31 else np.int64)
            self.window = np.arange(self.WINDOW)

    def bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``np.searchsorted(keys, x, side)`` for side "left" and "right"."""
        if self.starts is None:
            return (np.searchsorted(self.keys, x, side="left"),
                    np.searchsorted(self.keys, x, side="right"))
        first, seen = self._window(x)
        left = first + (seen < x[:, None]).sum(axis=1)
        upto = (seen <= x[:, None]).sum(axis=1)
        right = first + upto
        short = np.flatnonzero(upto == self.WINDOW)
        self._search_short(short, x, left, "left")
        self._search_short(short, x, right, "right")
        return left, right

    def right(self, x: np.ndarray) -> np.ndarray:
        """``np.searchsorted(keys, x, side="right")`` alone (half the work of ``bounds``)."""
        if self.starts is None:
            return np.searchsorted(self.keys, x, side="right")
        first, seen = self._window(x)
        upto = (seen <= x[:, None]).sum(axis=1)
        right = first + upto
        self._search_short(np.flatnonzero(upto == self.WINDOW), x, right, "right")
        return right

    def _window(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.starts is not None
        first = self.starts[x >> self.shift].astype(np.int64)
        # past the end the last key stands in, so that a window reaching the end counts as
        # short wherever it could count a key twice
        return first, self.keys[np.minimum(first[:, None] + self.window, self.size - 1)]

    def _search_short(self, short: np.ndarray, x: np.ndarray, out: np.ndarray,
                      side: Literal["left", "right"]) -> None:
        """Bounds of keys whose window was too short (keys up to them may go on past it)."""
        assert self.starts is not None
        if len(short) > self.FEW_SHORT:
            out[short] = np.searchsorted(self.keys, x[short], side=side)
            return
        for i, key in zip(short.tolist(), x[short], strict=True):  # a few: each in its bucket
            bucket = int(key >> self.shift)
            a, b = int(self.starts[bucket]), int(self.starts[bucket + 1])
            out[i] = a + int(self.keys[a:b].searchsorted(key, side=side))


class Run:
    """One sorted run of (key, value) entries; subclasses search it."""

    size: int
    value_dtype: np.dtype

    def __len__(self) -> int:
        return self.size

    def _lookup(self, keys: np.ndarray, max_per_key: int | np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lookup`` for a non-empty run and keys."""
        raise NotImplementedError

    def lookup(self, keys: np.ndarray, max_per_key: int | np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into ``keys``, value) of every entry of every key, and per key how many
        entries the run holds; a key with more than ``max_per_key`` gives no entries."""
        keys = np.asarray(keys, np.uint64)
        if not len(keys) or not self.size:
            return np.empty(0, np.int64), np.empty(0, self.value_dtype), \
                np.zeros(len(keys), dtype=np.int64)
        return self._lookup(keys, max_per_key)


def entries(lo: np.ndarray, hi: np.ndarray, max_per_key: int | np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For keys found at [lo, hi) of a run: (key number, position) of every entry to return,
    and per key the number of entries; a crowded key returns none."""
    counts = hi - lo
    n = counts if max_per_key is None else np.where(counts > max_per_key, 0, counts)
    at, where = ranges(lo, n)
    return at, where, counts


def uncrowded(at: np.ndarray, counts: np.ndarray,
              max_per_key: int | np.ndarray | None) -> np.ndarray | None:
    """Which entries to keep once every part's counts of a key are summed: those of keys held at
    most ``max_per_key`` times in all (None: keep all)."""
    if max_per_key is None or not (counts > max_per_key).any():
        return None
    if isinstance(max_per_key, np.ndarray):
        return counts[at] <= max_per_key[at]
    return counts[at] <= max_per_key


class ArrayRun(Run):
    """A run in memory, searched through a KeyDirectory made at its first lookup (a run is never
    changed once made)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.keys = np.asarray(keys, np.uint64)
        self.values = values
        self.value_dtype = values.dtype
        self.size = len(self.keys)
        self._directory: KeyDirectory | None = None

    def directory(self) -> KeyDirectory:
        if self._directory is None:
            self._directory = KeyDirectory(self.keys)
        return self._directory

    def _lookup(self, keys: np.ndarray, max_per_key: int | np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at, where, counts = entries(*self.directory().bounds(keys), max_per_key)
        return at, self.values[where], counts


def lookup_runs(runs: Sequence[Run], keys: np.ndarray, max_per_key: int | np.ndarray | None,
                value_dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Run.lookup`` over several runs as if they were one: a key's entries in every run are
    counted together, and a key held more than ``max_per_key`` times in all gives none."""
    keys = np.asarray(keys, np.uint64)
    parts = [run.lookup(keys, max_per_key) for run in runs if len(run)]
    if not parts:
        return np.empty(0, np.int64), np.empty(0, value_dtype), np.zeros(len(keys), np.int64)
    if len(parts) == 1:
        return parts[0]
    at = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    counts = np.sum([p[2] for p in parts], axis=0)
    keep = uncrowded(at, counts, max_per_key)
    if keep is not None:
        at, values = at[keep], values[keep]
    return at, values, counts


class SortedTable:
    """Sorted runs in memory, merged logarithmically as they grow (see the module's notes)."""

    def __init__(self, value_dtype: type[np.generic] | np.dtype) -> None:
        self.value_dtype = np.dtype(value_dtype)
        self.runs: list[ArrayRun] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self.runs)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, np.uint64)
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append(ArrayRun(keys[order], np.asarray(values, self.value_dtype)[order]))
        while len(self.runs) > 1 and len(self.runs[-2]) < 2 * len(self.runs[-1]):
            newer, older = self.runs.pop(), self.runs.pop()
            keys = np.concatenate([older.keys, newer.keys])
            values = np.concatenate([older.values, newer.values])
            order = np.argsort(keys, kind="stable")  # older entries first on equal keys
            self.runs.append(ArrayRun(keys[order], values[order]))

    def lookup(self, keys: np.ndarray, max_per_key: int | np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into ``keys``, value) of every entry of every key, and per key how many
        entries the table holds; a key with more than ``max_per_key`` gives no entries."""
        return lookup_runs(self.runs, keys, max_per_key, self.value_dtype)
