"""Sorted runs on disk: 64-bit words (a 40-bit key with a 24-bit posting below it), block-encoded.

A run is a sorted array of words, optionally with columns of small integers beside them (a seed
window's position). It is cut into blocks of BLOCK words. The first word of every block is kept
in memory (the fence); the file holds, per block, the other words bit-packed at a fixed width,
then each column's values bit-packed. Blocks are grouped in pages of PAGE_BLOCKS; a page's bit
widths are the fewest that hold its values, so a page costs what its values need and is written
in one pass.

A block stores its words one of two ways (the run's ``encoding``): ``offset``, each word as its
distance from the block's first word, or ``delta`` (runs written before), each as its
difference from the word before. Offsets take about three bits a word more (the band table of
50,000 reports: 45 bits a word instead of 42, where a plain word takes 64), but any one of them
reads alone: a lookup binary-searches the blocks where a key can be for where its words begin
and end, six reads of one value each, and reads only the key's own words, where differences
have to be decoded and summed the whole block.

A lookup asks a blocked Bloom filter first (most keys of a fresh report are in no reference and
cost no read), then finds in the fence the blocks that can hold a key and reads them, with a
few vectorised gathers, straight from a read-only memory map of the file (a check touches
thousands of scattered blocks over a grown index's segments: one system call each cost more
than the rest of the lookup). A merge, which reads a run whole a key range at a time, reads it
with ``pread`` instead. So the process keeps only the fence and the page table in its own
memory however large the run; the mapped pages (and the mapped filter) are the kernel's page
cache, shared by every process that reads the file and given back under memory pressure.
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from app.core.table import POSTING_BITS, KeyDirectory, distinct, ranges

from .npyfile import NpyWriter, write_header

BLOCK = 64  # words a block: one read of 300-600 bytes
PAGE_BLOCKS = 1024  # blocks a page: its bit widths are its own
PAGE_WORDS = BLOCK * PAGE_BLOCKS
FILTER_BITS_PER_KEY = 8  # about 4 % of absent keys still read a block (0.9 % at 16)
POSTING_MASK = np.uint64((1 << POSTING_BITS) - 1)
_MAX_PACKED = 56  # a value is read as 8 bytes shifted by up to 7 bits
# a page's place in the file and its widths: "delta_bits" is the stored words' (offsets or
# differences: the field keeps the name it had when differences were the only encoding)
PAGE_DTYPE = np.dtype([("offset", "<u8"), ("delta_bits", "u1"), ("column_bits", "u1", (2,))])
MAX_COLUMNS = 2
OFFSET, DELTA = "offset", "delta"  # how a block stores its words (see above)
ENCODINGS = (OFFSET, DELTA)
CHECK_WORDS = 1 << 20  # words a writer checks and adds to its filter at once


def _bits(values: np.ndarray) -> int:
    return int(values.max()).bit_length() if len(values) else 0


class KeyFilter:
    """A blocked Bloom filter over a run's keys: each key sets four bits of one 64-bit word. The
    word comes from the key's top bits, so sorted keys fill the filter in one pass, and the
    four bits from the key's bits just above the posting. Keys are well-mixed hashes, so their
    own bits serve as the filter's hash. At eight bits a key about 4 % of absent keys pass."""

    def __init__(self, words: np.ndarray) -> None:
        if words.dtype != np.uint64 or words.ndim != 1 or not len(words):
            raise ValueError("a key filter is a non-empty array of 64-bit words")
        self.words = words

    @staticmethod
    def size_for(n_keys: int, bits_per_key: int = FILTER_BITS_PER_KEY) -> int:
        """Words for ``n_keys`` keys."""
        return int(min(max(n_keys * bits_per_key // 64, 1), 1 << 32))

    @staticmethod
    def place(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, np.uint64)
        word = ((keys >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32)  # monotone in key
        low = keys >> np.uint64(POSTING_BITS)
        one, six = np.uint64(1), np.uint64(63)
        mask = ((one << (low & six)) | (one << ((low >> np.uint64(6)) & six))
                | (one << ((low >> np.uint64(12)) & six)) | (one << ((low >> np.uint64(18)) & six)))
        return word.astype(np.int64), mask

    @classmethod
    def sorted_bits(cls, keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The words sorted ``keys`` set (ascending, each once) and the bits each gets."""
        word, mask = cls.place(keys, size)
        if not len(word):
            return word, mask
        first = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])  # sorted: runs of a word
        return word[first], np.bitwise_or.reduceat(mask, first)

    def add_sorted(self, keys: np.ndarray) -> None:
        words, bits = self.sorted_bits(keys, len(self.words))
        self.words[words] |= bits

    def might_hold(self, keys: np.ndarray) -> np.ndarray:
        word, mask = self.place(keys, len(self.words))
        return (self.words[word] & mask) == mask


class FilterWriter:
    """Writes a KeyFilter's words to a ``.npy`` file as ascending keys come. A key's word only
    grows with the key, so every word before the latest key's is final and goes to the file:
    the filter (a byte a key, the largest thing a merge held) never sits in memory whole."""

    def __init__(self, path: Path, size: int) -> None:
        self.size = size
        self._out: BinaryIO = path.open("wb")
        write_header(self._out, np.dtype(np.uint64), (size,))
        self._end = self._out.tell() + 8 * size
        self._next = 0  # the first word not yet written, whose bits so far are _open
        self._open = np.zeros(1, np.uint64)

    def add_sorted(self, keys: np.ndarray) -> None:
        words, masks = KeyFilter.sorted_bits(keys, self.size)
        if not len(words):
            return
        if int(words[0]) < self._next:
            raise ValueError("filter keys must come in ascending order")
        span = np.zeros(int(words[-1]) - self._next + 1, np.uint64)
        span[0] = self._open[0]
        span[words - self._next] |= masks
        self._out.write(span[:-1].tobytes())
        self._next, self._open = int(words[-1]), span[-1:]

    def close(self) -> None:
        self._out.write(self._open.tobytes())
        self._out.truncate(self._end)  # the words no key set: zeros
        self._out.close()

    def abort(self) -> None:
        self._out.close()


def _pack(positions: np.ndarray, values: np.ndarray, total_bits: int) -> np.ndarray:
    """``values`` written little-endian at bit ``positions`` (each value below 2**(64 - the
    position's bit within its 64-bit word) or split across two words) of a zeroed stream of
    ``total_bits``; the stream's bytes. Values never share bits, so OR-ing each word's pieces
    (one reduceat over the sorted positions) writes them all."""
    words = np.zeros(-(-total_bits // 64) + 1, np.uint64)
    index = positions >> 6
    shift = (positions & 63).astype(np.uint64)
    for targets, pieces in ((index, values << shift),
                            (index + 1, np.where(shift > 0, values >> (np.uint64(64) - shift)
                                                 .clip(max=63), 0).astype(np.uint64))):
        nonzero = pieces != 0
        target, piece = targets[nonzero], pieces[nonzero]
        if len(target):
            first = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
            words[target[first]] |= np.bitwise_or.reduceat(piece, first)
    return words.view(np.uint8)[: -(-total_bits // 8)]


def _block_bytes(word_bits: int, column_bits: list[int]) -> int:
    bits = (BLOCK - 1) * word_bits + BLOCK * sum(column_bits)
    return -(-bits // 8) if bits else 1


@dataclass
class RunInfo:
    """What a run's header records: its size, the columns beside its words and how its blocks
    store the words."""

    words: int
    columns: int
    encoding: str

    def __post_init__(self) -> None:
        _check_encoding(self.encoding)


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown run encoding {encoding!r}")


def side_files(path: Path) -> dict[str, Path]:
    """The files beside a run (``band.run``: ``band.fence.npy``, ...)."""
    return {part: path.with_suffix(f".{part}.npy") for part in ("fence", "pages", "filter")}


class RunWriter:
    """Writes a run from sorted words (and columns) given in order, a page at a time, with its
    fence, page table and key filter (sized for ``capacity`` words at most) beside it. The
    fence and the filter go to their files as the words come: what the writer holds does not
    grow with the run."""

    def __init__(self, path: Path, columns: int, capacity: int,
                 filter_bits: int = FILTER_BITS_PER_KEY, encoding: str = OFFSET) -> None:
        if columns > MAX_COLUMNS:
            raise ValueError(f"a run has at most {MAX_COLUMNS} columns")
        _check_encoding(encoding)
        self.path = path
        self.columns = columns
        self.encoding = encoding
        self._files = side_files(path)
        self._out: BinaryIO = path.open("wb")
        self._buffer: deque[tuple[np.ndarray, list[np.ndarray]]] = deque()
        self._buffered = 0
        self._fence = NpyWriter(self._files["fence"], np.uint64, 2)  # a block's first and last
        self._pages: list[tuple[int, int, list[int]]] = []
        self._offset = 0
        self.filter = FilterWriter(self._files["filter"],
                                   KeyFilter.size_for(capacity, filter_bits))
        self.words = 0
        self._last = -1

    def add(self, words: np.ndarray, columns: list[np.ndarray] | None = None) -> None:
        words = np.asarray(words, np.uint64)
        if not len(words):
            return
        cols = [np.asarray(c, np.uint64) for c in (columns or [])]
        if len(cols) != self.columns or any(len(c) != len(words) for c in cols):
            raise ValueError(f"each word needs {self.columns} column values")
        # a piece at a time: the filter's arithmetic makes several temporaries the size of what
        # it is given, and a build hands over a whole segment's table (tens of millions)
        for a in range(0, len(words), CHECK_WORDS):
            piece = words[a : a + CHECK_WORDS]
            if int(piece[0]) < self._last or (len(piece) > 1 and (piece[1:] < piece[:-1]).any()):
                raise ValueError("run words must come in ascending order")
            self._last = int(piece[-1])
            self.filter.add_sorted(piece)
        self._buffer.append((words, cols))
        self._buffered += len(words)
        while self._buffered >= PAGE_WORDS:
            self._page(PAGE_WORDS)
        # what waits for the next page is less than a page; as a view it would keep the whole
        # array it was cut from alive (a build's table, hundreds of MB)
        self._buffer = deque((w.copy(), [c.copy() for c in cs]) if w.base is not None
                             else (w, cs) for w, cs in self._buffer)

    def _take(self, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
        # only the pieces that make up these n words are joined: a large addition is cut a page
        # at a time without copying what stays behind (which made writing a run quadratic)
        taken: list[tuple[np.ndarray, list[np.ndarray]]] = []
        need = n
        while need:
            words, cols = self._buffer[0]
            if len(words) <= need:
                taken.append(self._buffer.popleft())
                need -= len(words)
            else:
                taken.append((words[:need], [c[:need] for c in cols]))
                self._buffer[0] = (words[need:], [c[need:] for c in cols])
                need = 0
        self._buffered -= n
        if len(taken) == 1:
            return taken[0]
        return (np.concatenate([w for w, _ in taken]),
                [np.concatenate([c[k] for _, c in taken]) for k in range(self.columns)])

    def _page(self, n: int) -> None:
        words, cols = self._take(n)
        n_blocks = -(-n // BLOCK)
        pad = n_blocks * BLOCK - n
        # a partial last block repeats its last word and zero columns (read back, then cut off)
        grid = np.concatenate([words, np.full(pad, words[-1], np.uint64)]).reshape(n_blocks, BLOCK)
        ends = np.minimum(BLOCK - 1, n - 1 - np.arange(n_blocks) * BLOCK)
        lasts = grid[np.arange(n_blocks), ends]
        self._fence.append(np.stack([grid[:, 0], lasts], axis=1))
        stored = grid[:, 1:] - (grid[:, :1] if self.encoding == OFFSET else grid[:, :-1])
        word_bits = _bits(stored.ravel())
        if word_bits > _MAX_PACKED:
            word_bits = 64  # a sparse run's words are stored whole
        col_grids = [np.concatenate([c, np.zeros(pad, np.uint64)]).reshape(n_blocks, BLOCK)
                     for c in cols]
        col_bits = [_bits(c.ravel()) for c in cols]
        if any(b > _MAX_PACKED for b in col_bits):
            raise ValueError("run columns hold values of at most 56 bits")
        size = _block_bytes(word_bits, col_bits)
        # each block's bit positions: its words, then each column's values, block after block
        offsets, at = [np.arange(BLOCK - 1) * word_bits], (BLOCK - 1) * word_bits
        for bits in col_bits:
            offsets.append(at + np.arange(BLOCK) * bits)
            at += BLOCK * bits
        positions = (np.arange(n_blocks, dtype=np.int64)[:, None] * (size * 8)
                     + np.concatenate(offsets)).ravel()
        values = np.concatenate([stored, *col_grids], axis=1).ravel()
        packed = _pack(positions, values, n_blocks * size * 8)
        self._out.write(packed.tobytes())
        self._pages.append((self._offset, word_bits, col_bits))
        self._offset += len(packed)
        self.words += n

    def close(self) -> None:
        """Finish the run's file (synced) and write its fence (each block's first and last
        word), page table and filter beside it (synced by the segment that holds them)."""
        if self._buffered:
            self._page(self._buffered)
        self._out.write(b"\0" * 8)  # a block's last value is read as 8 bytes
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        pages = np.zeros(len(self._pages), PAGE_DTYPE)
        for i, (offset, delta_bits, col_bits) in enumerate(self._pages):
            pages[i]["offset"] = offset
            pages[i]["delta_bits"] = delta_bits
            pages[i]["column_bits"][: len(col_bits)] = col_bits
        np.save(self._files["pages"], pages)
        self._fence.close()
        self.filter.close()

    def abort(self) -> None:
        self._out.close()
        self._fence.abort()
        self.filter.abort()


class Run:
    """A run saved by RunWriter, read block by block. The file is opened once: a run whose files
    were removed (a merged-away segment) stays readable while open."""

    def __init__(self, path: Path, info: RunInfo, fence: np.ndarray, pages: np.ndarray,
                 key_filter: np.ndarray) -> None:
        self.path = Path(path)
        self.size = info.words
        self.columns = info.columns
        fence = np.asarray(fence, np.uint64)
        if fence.ndim != 2 or fence.shape[1:] != (2,):
            raise ValueError(f"the fence of {path.name} is not first and last words")
        self.fence = np.ascontiguousarray(fence[:, 0])
        self.last = np.ascontiguousarray(fence[:, 1])
        if pages.dtype != PAGE_DTYPE or len(self.fence) != -(-self.size // BLOCK) \
                or len(pages) != -(-len(self.fence) // PAGE_BLOCKS):
            raise ValueError(f"the fence or page table of {self.path.name} does not match it")
        self.encoding = info.encoding
        self.blocks = KeyDirectory(self.fence)
        self.filter = KeyFilter(key_filter)
        self.page_offset = pages["offset"].astype(np.int64)
        self.word_bits = pages["delta_bits"].astype(np.int64)
        self.word_mask = _masks(self.word_bits)
        self.column_bits = pages["column_bits"][:, : self.columns].astype(np.int64)
        self.column_mask = _masks(self.column_bits)
        self.block_bytes = np.array(
            [_block_bytes(int(d), [int(b) for b in c])
             for d, c in zip(self.word_bits, self.column_bits, strict=True)], np.int64)
        expected = (int(self.page_offset[-1]) + self.block_bytes[-1]
                    * (len(self.fence) - (len(pages) - 1) * PAGE_BLOCKS) + 8) if len(pages) else 8
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path.name} is not as long as its page table says")
        # both outlive the file's removal (a merged-away segment)
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        mapped = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
        mapped.madvise(mmap.MADV_RANDOM)  # lookups touch scattered blocks: no read-ahead
        self._bytes = np.frombuffer(mapped, np.uint8)
        self._windows = _windows(self._bytes)

    @classmethod
    def load(cls, path: Path, info: RunInfo) -> Run:
        """The run at ``path`` with the files its writer left beside it."""
        files = side_files(path)
        return cls(path, info, np.load(files["fence"], allow_pickle=False),
                   np.load(files["pages"], allow_pickle=False),
                   # mapped, not loaded: the workers share one copy in the page cache, and a
                   # merge, which never asks the filter, reads none of it
                   np.asarray(np.load(files["filter"], mmap_mode="r", allow_pickle=False)))

    def __len__(self) -> int:
        return self.size

    def lookup(self, keys: np.ndarray, max_per_key: int | np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        """For each key (low POSTING_BITS zero), every word holding it: (index into ``keys``,
        word, its columns), and per key how many words the run holds; a key with more than
        ``max_per_key`` (one for all, or one a key) gives none (and only the blocks where it
        starts and ends are read, to count it)."""
        keys = np.asarray(keys, np.uint64)
        empty = (np.empty(0, np.int64), np.empty(0, np.uint64),
                 [np.empty(0, np.int64)] * self.columns, np.zeros(len(keys), np.int64))
        if not len(keys) or not self.size:
            return empty
        # searched in key order, so that the blocks to read come out sorted (a check's parts
        # are asked with keys sorted once for all of them)
        if (keys[1:] >= keys[:-1]).all():
            return self._lookup_sorted(keys, max_per_key)
        order = np.argsort(keys, kind="stable")
        if isinstance(max_per_key, np.ndarray):
            max_per_key = max_per_key[order]
        at, words, cols, counts = self._lookup_sorted(keys[order], max_per_key)
        unsorted = np.empty_like(counts)
        unsorted[order] = counts
        return order[at], words, cols, unsorted

    def _lookup_sorted(self, keys: np.ndarray, max_per_key: int | np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        counts = np.zeros(len(keys), dtype=np.int64)
        empty = (np.empty(0, np.int64), np.empty(0, np.uint64),
                 [np.empty(0, np.int64)] * self.columns, counts)
        # most absent keys fail the filter, and only the others are looked for in the fence
        passed = np.flatnonzero(self.filter.might_hold(keys))
        if not len(passed):
            return empty
        wanted = keys[passed]
        if isinstance(max_per_key, np.ndarray):
            max_per_key = max_per_key[passed]
        last_word = wanted | POSTING_MASK
        # the blocks holding a key: from the last whose first word is at most the key's first
        # (a block ends with it, or holds it all) to the last starting at most at its last
        first = np.maximum(self.blocks.right(wanted) - 1, 0)
        last = self.blocks.right(last_word) - 1
        first += (self.last[first] < wanted) & (first < last)  # the block before ends below it
        present = (last >= 0) & (self.last[np.maximum(last, 0)] >= wanted)
        if self.encoding == OFFSET:
            return self._lookup_offsets(passed, wanted, last_word, first, last, present,
                                        max_per_key, counts)
        # blocks strictly between first and last hold nothing but the key: a key spanning more
        # of them than max_per_key allows is crowded, and only its first and last blocks are
        # read, to count it exactly
        whole = present if max_per_key is None else \
            present & ((last - first - 1) * BLOCK <= max_per_key)
        ends = present & ~whole
        _, spanned = ranges(first[whole], (last - first + 1)[whole])
        blocks = distinct(np.concatenate([spanned, first[ends], last[ends]]))
        if not len(blocks):
            return empty
        got_words, got_cols, got_pos = self._read(blocks)
        lo = np.searchsorted(got_words, wanted, side="left")
        hi = np.searchsorted(got_words, last_word, side="right")
        found = hi > lo
        # entries between a crowded key's first and last block were not read: its count comes
        # from the places of the first and last entries read
        counts[passed] = np.where(found, got_pos[np.maximum(hi - 1, 0)] - got_pos[np.minimum(
            lo, len(got_pos) - 1)] + 1, 0)
        at, where, _ = _kept(lo, hi, counts[passed], max_per_key)
        return passed[at], got_words[where], [c[where] for c in got_cols], counts

    def _lookup_offsets(self, passed: np.ndarray, wanted: np.ndarray, last_word: np.ndarray,
                        first: np.ndarray, last: np.ndarray, present: np.ndarray,
                        max_per_key: int | np.ndarray | None, counts: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        """``_lookup_sorted`` of a run of offsets: where each key's words begin (in its first
        block) and end (in its last) by binary search, then only those words."""
        keys = np.flatnonzero(present)
        first, last = first[keys], last[keys]
        # one search for both ends: below the key's first word, at most its last
        rank = self._rank(np.concatenate([first, last]),
                          np.concatenate([wanted[keys], last_word[keys]]),
                          np.repeat([False, True], len(keys)))
        begin = first * BLOCK + rank[: len(keys)]
        end = np.minimum(last * BLOCK + rank[len(keys) :],
                         self.size)  # a partial last block repeats its last word
        n = np.maximum(end - begin, 0)
        counts[passed[keys]] = n
        if isinstance(max_per_key, np.ndarray):
            max_per_key = max_per_key[keys]
        if max_per_key is not None:
            n = np.where(n > max_per_key, 0, n)
        owner, place = ranges(begin, n)
        blocks, slot = place // BLOCK, place % BLOCK
        page, bit = self._block_bits(blocks)
        words = self._word(blocks, page, bit, slot)
        cols = [self._column(page, bit, slot, k) for k in range(self.columns)]
        return passed[keys[owner]], words, cols, counts

    def _block_bits(self, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each block's page and the bit of the file where its stored words begin."""
        page = blocks // PAGE_BLOCKS
        return page, (self.page_offset[page]
                      + (blocks - page * PAGE_BLOCKS) * self.block_bytes[page]) * 8

    def _word(self, blocks: np.ndarray, page: np.ndarray, bit: np.ndarray,
              slot: np.ndarray) -> np.ndarray:
        """The word at ``slot`` of each block of offsets (slot 0 is the fence's)."""
        at = bit + np.maximum(slot - 1, 0) * self.word_bits[page]
        offset = self._value_at(at, self.word_mask[page])
        offset[slot == 0] = 0
        return self.fence[blocks] + offset

    def _column(self, page: np.ndarray, bit: np.ndarray, slot: np.ndarray, k: int
                ) -> np.ndarray:
        bits = self.column_bits[page]
        at = (bit + (BLOCK - 1) * self.word_bits[page] + BLOCK * bits[:, :k].sum(axis=1)
              + slot * bits[:, k])
        return self._value_at(at, self.column_mask[page, k]).view(np.int64)  # below 2**56

    def _value_at(self, at: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The packed value that begins at each bit ``at`` of the file, ``mask`` wide."""
        return (self._windows[at >> 3] >> (at & 7).astype(np.uint64)) & mask

    def _rank(self, blocks: np.ndarray, targets: np.ndarray, inclusive: np.ndarray
              ) -> np.ndarray:
        """How many words of each block of offsets are below its target (where ``inclusive``,
        at most it): the fence word, then a branch-free binary search of the other BLOCK - 1,
        one read of one offset a step."""
        page, bit = self._block_bits(blocks)
        width, mask, base = self.word_bits[page], self.word_mask[page], self.fence[blocks]
        above_base = np.where(inclusive, base <= targets, base < targets)
        limit = np.where(above_base, targets - base, np.uint64(0))
        everything = inclusive & (limit == np.uint64(2**64 - 1))
        limit += inclusive  # at most the limit: below one more
        rank = np.zeros(len(blocks), np.int64)
        step = BLOCK // 2
        while step:  # BLOCK - 1 = 2**k - 1 offsets: k steps end anywhere from 0 to all of them
            at = bit + (rank + step - 1) * width
            offset = self._value_at(at, mask)
            rank += step * (offset < limit)
            step //= 2
        return np.where(above_base, 1 + np.where(everything, BLOCK - 1, rank), 0)

    def scan(self, lo: int, hi: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every word in [lo, hi) with its columns, in order (a merge reads a run this way, a
        key range at a time)."""
        bounded = hi < 1 << 64
        first = max(int(np.searchsorted(self.fence, np.uint64(lo), side="left")) - 1, 0)
        last = (int(np.searchsorted(self.fence, np.uint64(hi), side="left")) if bounded
                else len(self.fence)) - 1
        if not self.size or last < first:
            return np.empty(0, np.uint64), [np.empty(0, np.int64)] * self.columns
        words, cols, _ = self._read(np.arange(first, last + 1), whole=True)
        keep = words >= np.uint64(lo)
        if bounded:
            keep &= words < np.uint64(hi)
        return words[keep], [c[keep] for c in cols]

    def _read(self, blocks: np.ndarray, whole: bool = False
              ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """The words and columns of ``blocks`` (sorted; with ``whole``, every block from the
        first to the last), and each word's place in the run."""
        page = blocks // PAGE_BLOCKS
        at = self.page_offset[page] + (blocks - page * PAGE_BLOCKS) * self.block_bytes[page]
        buffer = self._bytes
        if whole and len(blocks):
            # a merge's key range is read, not touched through the map: a merge reads its
            # segments whole, and mapped they would all count as the process's memory
            begin = int(at[0])
            want = int(at[-1] + self.block_bytes[page[-1]]) - begin + 8  # the file's last 8
            data = os.pread(self._fd, want, begin)                         # bytes are zeros
            if len(data) != want:
                raise OSError(f"{self.path.name} ended early: the index changed under us")
            buffer, at = np.frombuffer(data, np.uint8), at - begin
        words = self._decode_words(buffer, at, page, blocks)
        cols = [self._decode_column(buffer, at, page, k) for k in range(self.columns)]
        place = (blocks[:, None] * BLOCK + np.arange(BLOCK)).ravel()
        if place[-1] < self.size:
            return words.ravel(), [c.ravel() for c in cols], place
        keep = place < self.size  # the padding of a partial last block
        return words.ravel()[keep], [c.ravel()[keep] for c in cols], place[keep]

    def _decode_words(self, buffer: np.ndarray, at: np.ndarray, page: np.ndarray,
                      blocks: np.ndarray) -> np.ndarray:
        bits = self.word_bits[page]
        stored = np.empty((len(blocks), BLOCK), np.uint64)
        stored[:, 0] = 0 if self.encoding == OFFSET else self.fence[blocks]
        whole = bits == 64
        if not whole.any():
            stored[:, 1:] = _unpack(buffer, at * 8, bits, BLOCK - 1)
        else:
            rows = np.flatnonzero(whole)
            stored[rows, 1:] = _windows(buffer)[at[rows][:, None] + np.arange(BLOCK - 1) * 8]
            rows = np.flatnonzero(~whole)
            stored[rows, 1:] = _unpack(buffer, at[rows] * 8, bits[rows], BLOCK - 1)
        if self.encoding == OFFSET:
            stored += self.fence[blocks][:, None]
            return stored
        return np.cumsum(stored, axis=1, dtype=np.uint64, out=stored)  # the fence, then deltas

    def _decode_column(self, buffer: np.ndarray, at: np.ndarray, page: np.ndarray,
                       k: int) -> np.ndarray:
        word_bits = self.word_bits[page]
        col_bits = self.column_bits[page]
        offset = at * 8 + (BLOCK - 1) * word_bits + BLOCK * col_bits[:, :k].sum(axis=1)
        return _unpack(buffer, offset, col_bits[:, k], BLOCK).view(np.int64)  # below 2**56


def _kept(lo: np.ndarray, hi: np.ndarray, counts: np.ndarray,
          max_per_key: int | np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key number, place in what was read) of the entries to return, and per key its count."""
    n = hi - lo if max_per_key is None else np.where(counts > max_per_key, 0, hi - lo)
    at, where = ranges(lo, n)
    return at, where, counts


def _masks(bits: np.ndarray) -> np.ndarray:
    """The mask of each width (64: every bit)."""
    low = (np.uint64(1) << np.minimum(bits, 63).astype(np.uint64)) - np.uint64(1)
    return np.where(bits >= 64, np.uint64(2**64 - 1), low).astype(np.uint64)


def _windows(buffer: np.ndarray) -> np.ndarray:
    """Every 8-byte window of ``buffer`` as one unaligned uint64 (a view: one gather reads a
    value wherever its bits lie; a run's file ends with 8 zero bytes for its last value)."""
    return np.ndarray((len(buffer) - 7,), "<u8", buffer, 0, (1,))


def _unpack(buffer: np.ndarray, bit_offset: np.ndarray, bits: np.ndarray,
            per_row: int) -> np.ndarray:
    """``per_row`` values of ``bits[i]`` bits each, packed little-endian from ``bit_offset[i]``
    of ``buffer``, per row i; (rows, per_row) uint64."""
    windows = _windows(buffer)
    # rows of one width that start at one bit of a byte share their steps (bytes and shifts);
    # widths are a page's, so the rows of a read come in one or two such kinds
    kind = bits * 8 + (bit_offset & 7)
    kinds = np.unique(kind).tolist()
    if len(kinds) == 1:
        return _unpack_alike(windows, bit_offset >> 3, kinds[0], per_row)
    out = np.empty((len(bits), per_row), np.uint64)
    for k in kinds:
        rows = np.flatnonzero(kind == k)
        out[rows] = _unpack_alike(windows, bit_offset[rows] >> 3, k, per_row)
    return out


def _unpack_alike(windows: np.ndarray, first_byte: np.ndarray, kind: int,
                  per_row: int) -> np.ndarray:
    """``_unpack`` of rows that share width and first bit (``kind``: width * 8 + bit)."""
    width, first_bit = divmod(kind, 8)
    steps = first_bit + np.arange(per_row) * width
    values = windows[first_byte[:, None] + (steps >> 3)]
    values >>= (steps & 7).astype(np.uint64)
    values &= np.uint64((1 << width) - 1)
    return values
