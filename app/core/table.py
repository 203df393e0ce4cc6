"""A multimap from uint64 keys to fixed-size values, kept as sorted runs of (key, value).

Sorted keys are searched through a ``KeyDirectory`` (where each bucket of their top bits
starts) rather than by binary search. A run in memory (``ArrayRun``) is searched that way
directly. A run saved on disk (``FileRun``) is searched in two steps: its fence (every BLOCK-th
key, small enough to stay in memory) names the blocks that can hold a key, and only those blocks
are read, with ``pread``; a Bloom filter of its keys rules most absent keys out before that. So
a table far larger than memory is searched without mapping it: the process's resident memory is
the fence and the filter, however many lookups run, and the kernel's page cache keeps the hot
blocks for every process that reads the file.

A table is one base run (in memory or on disk) and an in-memory sorted tail for additions;
``merged()`` folds the two together when an index is saved. Entries are never deleted here:
owners filter out removed documents, so a removal never rewrites the base.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

BLOCK = 64  # entries per block: one 768-byte read for band records, 1 KB for seed records
FILTER_BYTES_PER_KEY = 0.75  # 6 bits a key: 3 % to 7 % of absent keys still read a block


def record_dtype(value_dtype: np.dtype | type[np.generic]) -> np.dtype:
    """How a saved run stores one entry: the key and its value side by side, so one read gets
    both."""
    return np.dtype([("key", "<u8"), ("value", np.dtype(value_dtype).newbyteorder("<"))])


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
        _, members = _ranges(first, last - first)
        fix = np.argsort(out[members], kind="stable")
        out[members] = out[members][fix]
        order[members] = order[members][fix]
    return out, order


class KeyFilter:
    """A blocked Bloom filter over a run's keys: most keys a check looks up (fresh text) are in
    no block, and the filter says so without a read. Each key sets three bits of one byte; the
    byte comes from the key's high bits, so sorted keys fill the filter in one pass. Keys are
    well-mixed hashes, so their own bits serve as the filter's hash."""

    def __init__(self, bits: np.ndarray) -> None:
        self.bits = bits

    @staticmethod
    def _place(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, np.uint64)
        byte = ((keys >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32)  # monotone in key
        one = np.uint64(1)
        mask = ((one << (keys & np.uint64(7))) | (one << ((keys >> np.uint64(3)) & np.uint64(7)))
                | (one << ((keys >> np.uint64(6)) & np.uint64(7)))).astype(np.uint8)
        return byte.astype(np.int64), mask

    @classmethod
    def of_sorted(cls, keys: np.ndarray, chunk: int = 1 << 24) -> KeyFilter:
        size = int(min(max(len(keys) * FILTER_BYTES_PER_KEY, 64), 1 << 32))
        bits = np.zeros(size, dtype=np.uint8)
        for a in range(0, len(keys), chunk):
            byte, mask = cls._place(keys[a : a + chunk], size)
            first = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])  # sorted: runs of a byte
            bits[byte[first]] |= np.bitwise_or.reduceat(mask, first)
        return cls(bits)

    def might_hold(self, keys: np.ndarray) -> np.ndarray:
        byte, mask = self._place(keys, len(self.bits))
        return (self.bits[byte] & mask) == mask


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
        first = self.starts[x >> self.shift].astype(np.int64)
        # past the end the last key stands in, so that a window reaching the end counts as
        # short wherever it could count a key twice
        seen = self.keys[np.minimum(first[:, None] + self.window, self.size - 1)]
        left = first + (seen < x[:, None]).sum(axis=1)
        upto = (seen <= x[:, None]).sum(axis=1)
        right = first + upto
        short = np.flatnonzero(upto == self.WINDOW)  # keys up to x may go on past the window
        if len(short) > self.FEW_SHORT:
            left[short] = np.searchsorted(self.keys, x[short], side="left")
            right[short] = np.searchsorted(self.keys, x[short], side="right")
        else:  # a few: each is searched in its bucket alone, a slice of the keys
            for i, key in zip(short.tolist(), x[short], strict=True):
                bucket = int(key >> self.shift)
                a, b = int(self.starts[bucket]), int(self.starts[bucket + 1])
                within = self.keys[a:b]
                left[i] = a + int(within.searchsorted(key, side="left"))
                right[i] = a + int(within.searchsorted(key, side="right"))
        return left, right


class Run:
    """One sorted run; subclasses search it."""

    size: int
    value_dtype: np.dtype

    def __len__(self) -> int:
        return self.size

    def _lookup(self, keys: np.ndarray, max_per_key: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lookup`` for a non-empty run and keys."""
        raise NotImplementedError

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every key and value (for saving)."""
        raise NotImplementedError

    def lookup(self, keys: np.ndarray, max_per_key: int | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into ``keys``, value) of every entry of every key, and per key how many
        entries were left out: all of them when a key has more than ``max_per_key``."""
        keys = np.asarray(keys, np.uint64)
        if not len(keys) or not self.size:
            return np.empty(0, np.int64), np.empty(0, self.value_dtype), \
                np.zeros(len(keys), dtype=np.int64)
        return self._lookup(keys, max_per_key)


def _entries(lo: np.ndarray, hi: np.ndarray, max_per_key: int | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For keys found at [lo, hi) of a run: (key number, position) of every entry, and per key
    the entries left out because there are more than ``max_per_key``."""
    n = hi - lo
    skipped = np.zeros(len(n), dtype=np.int64)
    if max_per_key is not None:
        crowded = n > max_per_key
        skipped = np.where(crowded, n, 0)
        n = np.where(crowded, 0, n)
    at, where = _ranges(lo, n)
    return at, where, skipped


class ArrayRun(Run):
    """A run in memory, searched through a KeyDirectory made at its first lookup (a run being
    filled by many additions is never searched in between)."""

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

    def _lookup(self, keys: np.ndarray, max_per_key: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at, where, skipped = _entries(*self.directory().bounds(keys), max_per_key)
        return at, self.values[where], skipped

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.keys, self.values


class FileRun(Run):
    """A run saved as a ``.npy`` file of records (``record_dtype``), with its fence and key
    filter in memory; blocks are read with ``pread``. The file is opened once; a replaced
    index's file stays readable while open."""

    def __init__(self, path: Path, fence: np.ndarray, key_filter: np.ndarray,
                 value_dtype: type[np.generic]) -> None:
        self.path = Path(path)
        self.value_dtype = np.dtype(value_dtype)
        self.records = record_dtype(value_dtype)
        self.fence = np.asarray(fence, np.uint64)
        self.blocks = KeyDirectory(self.fence)
        if key_filter.dtype != np.uint8 or key_filter.ndim != 1 or not len(key_filter):
            raise ValueError(f"the filter of {self.path.name} is not a byte array")
        self.filter = KeyFilter(key_filter)
        with self.path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if dtype != self.records or fortran or len(shape) != 1:
            raise ValueError(f"{self.path.name} does not hold {self.records} records")
        self.size = int(shape[0])
        if self.path.stat().st_size != self.offset + self.size * self.records.itemsize:
            raise ValueError(f"{self.path.name} is not as long as its header says")
        if len(self.fence) != -(-self.size // BLOCK):
            raise ValueError(f"the fence of {self.path.name} does not match it")
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def _lookup(self, keys: np.ndarray, max_per_key: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # searched in key order, so that the blocks to read come out sorted and neighbours
        # are read together
        order = np.argsort(keys, kind="stable")
        at, values, skipped = self._lookup_sorted(keys[order], max_per_key)
        unsorted = np.empty_like(skipped)
        unsorted[order] = skipped
        return order[at], values, unsorted

    def _lookup_sorted(self, keys: np.ndarray, max_per_key: int | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        skipped = np.zeros(len(keys), dtype=np.int64)
        left, right = self.blocks.bounds(keys)
        # a key below the first block's first key is nowhere; most absent keys fail the filter
        present = (right > 0) & self.filter.might_hold(keys)
        first = np.maximum(left - 1, 0)  # the block before may end with the key
        last = right - 1
        # blocks strictly between first and last hold nothing but the key: a key spanning more
        # of them than max_per_key allows is crowded, and only the blocks where it starts and
        # ends are read (first and first + 1: the key may start at either), to count it exactly
        whole = present if max_per_key is None else \
            present & ((last - first - 1) * BLOCK <= max_per_key)
        ends = present & ~whole
        _, spanned = _ranges(first[whole], (last - first + 1)[whole])
        blocks = distinct(np.concatenate([spanned, first[ends], first[ends] + 1, last[ends]]))
        if not len(blocks):
            return np.empty(0, np.int64), np.empty(0, self.value_dtype), skipped
        # consecutive blocks are read together
        cut = np.flatnonzero(np.diff(blocks) != 1) + 1
        run_first = blocks[np.concatenate([[0], cut])] * BLOCK
        run_last = np.minimum((blocks[np.concatenate([cut - 1, [len(blocks) - 1]])] + 1) * BLOCK,
                              self.size)
        got_keys, got_values = self._read(run_first, run_last)
        _, got_pos = _ranges(run_first, run_last - run_first)  # place of each entry in the run
        lo = np.searchsorted(got_keys, keys, side="left")
        hi = np.searchsorted(got_keys, keys, side="right")
        found = hi > lo
        count = np.where(found, got_pos[np.maximum(hi - 1, 0)] - got_pos[np.minimum(
            lo, len(got_pos) - 1)] + 1, 0)
        n = hi - lo
        if max_per_key is not None:
            crowded = count > max_per_key
            skipped = np.where(crowded, count, 0)
            n = np.where(crowded, 0, n)
        at, where = _ranges(lo, n)
        return at, np.asarray(got_values[where], self.value_dtype), skipped

    def _read(self, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of entries first[i]..last[i]-1 for each i, concatenated."""
        width = self.records.itemsize
        parts = []
        for a, b in zip(first.tolist(), last.tolist(), strict=True):
            want = (b - a) * width
            data = os.pread(self._fd, want, self.offset + a * width)
            if len(data) != want:
                raise OSError(f"{self.path.name} ended early: the index changed under us")
            parts.append(data)
        got = np.frombuffer(b"".join(parts), self.records)
        return got["key"], got["value"]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        got = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return got["key"], got["value"]


def write_run(path: Path, keys: np.ndarray, values: np.ndarray,
              chunk: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """Save sorted ``keys`` and their ``values`` as a FileRun's records, a chunk at a time (no
    second copy of a table that fills memory); returns the fence and the key filter's bytes to
    save beside it."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=record_dtype(values.dtype),
                                    shape=(len(keys),))
    for a in range(0, len(keys), chunk):
        out["key"][a : a + chunk] = keys[a : a + chunk]
        out["value"][a : a + chunk] = values[a : a + chunk]
    out.flush()
    del out
    keys = np.asarray(keys, np.uint64)
    return np.ascontiguousarray(keys[::BLOCK]), KeyFilter.of_sorted(keys, chunk).bits


class SortedTable:
    def __init__(self, value_dtype: type[np.generic], base: Run | None = None) -> None:
        self.value_dtype = np.dtype(value_dtype)
        self.base = base or ArrayRun(np.empty(0, np.uint64), np.empty(0, self.value_dtype))
        self.tail = ArrayRun(np.empty(0, np.uint64), np.empty(0, self.value_dtype))

    def __len__(self) -> int:
        return len(self.base) + len(self.tail)

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.concatenate([self.tail.keys, np.asarray(keys, np.uint64)])
        values = np.concatenate([self.tail.values, np.asarray(values, self.value_dtype)])
        order = np.argsort(keys, kind="stable")
        self.tail = ArrayRun(keys[order], values[order])

    def lookup(self, keys: np.ndarray, max_per_key: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index into ``keys``, value) of every entry of every key, and per key how many
        entries were left out: a key with more than ``max_per_key`` entries in one run."""
        keys = np.asarray(keys, np.uint64)
        parts = [run.lookup(keys, max_per_key) for run in (self.base, self.tail) if len(run)]
        if not parts:
            return np.empty(0, np.int64), np.empty(0, self.value_dtype), \
                np.zeros(len(keys), dtype=np.int64)
        if len(parts) == 1:
            return parts[0]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                parts[0][2] + parts[1][2])

    def merged(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """All entries as one sorted (keys, values) pair; ``keep`` is a boolean mask over the
        entries in base-then-tail order."""
        base_keys, base_values = self.base.arrays()
        keys = np.concatenate([base_keys, self.tail.keys])
        values = np.concatenate([base_values, self.tail.values])
        if keep is not None:
            keys, values = keys[keep], values[keep]
        order = np.argsort(keys, kind="stable")
        return keys[order], values[order]

    def all_values(self) -> np.ndarray:
        """Values in base-then-tail order (the order ``merged``'s mask refers to)."""
        return np.concatenate([self.base.arrays()[1], self.tail.values])
