"""Fingerprints and tables against their references: datasketch's MinHash and MinHashLSH, and a
brute-force multimap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import template

from app.core.document import analyse
from app.core.fingerprint import (
    NUM_PERM,
    SCHEME,
    SEED,
    pair_hashes,
    shingle_hashes,
    signatures,
    tokens,
)
from app.core.index import LSH_THRESHOLD
from app.core.lsh import BandTable, band_keys, lsh_params
from app.core.memo import Memo
from app.core.seeds import (
    STRIDE,
    K,
    SeedTable,
    common_mask,
    exact_runs,
    lex_order,
    pack,
    sampled_windows,
)
from app.core.table import KEY_MASK, ArrayRun, KeyDirectory, SortedTable, distinct, sort_keys

UNITS = st.lists(st.text(alphabet="报告工作推进全面落实党建发展0xy", max_size=40), max_size=12)


def _datasketch(units: list[str]) -> np.ndarray:
    """datasketch's MinHash of each unit's shingle hashes, one object per unit."""
    made = MinHash.generator((shingle_hashes(u).tolist() for u in units), num_perm=NUM_PERM,
                             seed=SEED, scheme=SCHEME, hashfunc=int)
    return np.array([m.hashvalues for m in made], dtype=np.uint32).reshape(len(units), NUM_PERM)


@settings(max_examples=60, deadline=None)
@given(units=UNITS)
def test_signatures_equal_datasketch_minhashes(units: list[str]) -> None:
    """The batched permutation gives datasketch's values exactly, empty units included."""
    assert np.array_equal(signatures(units), _datasketch(units))


def test_signatures_of_a_long_report_span_chunks() -> None:
    """More shingles than one scratch chunk holds, and one unit larger than a chunk: the same
    values as one unit at a time."""
    units = _units("jiguan-gongwei") * 40 + ["推进" * 20_000]
    assert sum(len(shingle_hashes(u)) for u in units) > 2 * (1 << 15)
    assert np.array_equal(signatures(units), np.concatenate([signatures([u]) for u in units]))


def test_shingles_are_words_by_sha1_and_ordered_pairs() -> None:
    """Words hash as datasketch's default SHA-1 of their UTF-8; a pair depends on its order and
    on both words, and collides with no word of the unit."""
    unit = "全面落实党建工作责任制推进全面从严治党"
    words = tokens(unit)
    hashes = shingle_hashes(unit)
    assert hashes[: len(words)].tolist() == [sha1_hash32(w.encode()) for w in words]
    pairs = hashes[len(words):]
    assert len(pairs) == len(words) - 1
    word_hashes = hashes[: len(words)]
    assert pairs.tolist() == pair_hashes(word_hashes[:-1], word_hashes[1:]).tolist()
    assert not set(pairs.tolist()) & set(word_hashes.tolist())
    swapped = pair_hashes(word_hashes[1:], word_hashes[:-1])
    assert (swapped != pairs).all()
    # 200,000 distinct pairs, as alike as pairs get: about 4.7 collisions expected of a random
    # 32-bit hash (n**2 / 2**33), and fewer than 30 but with a chance below 1e-15
    a = np.arange(200_000, dtype=np.uint32)
    for first, second in [(a, np.full_like(a, 7)), (np.full_like(a, 7), a), (a, a)]:
        assert len(np.unique(pair_hashes(first, second))) > 200_000 - 30
    b = np.random.default_rng(5).integers(0, 2**32, 200_000, dtype=np.uint32)
    mixed = pair_hashes(a, b)
    flipped = pair_hashes(a ^ np.uint32(1), b)  # one bit of the first word changes about half
    changed = np.unpackbits((mixed ^ flipped).view(np.uint8)).mean()
    assert 0.45 < changed < 0.55


def _units(name: str) -> list[str]:
    doc = analyse(template(name))
    return [doc.unit_chars(u) for u in doc.units]


def test_band_table_finds_what_minhash_lsh_finds() -> None:
    """Same bands and rows as datasketch's MinHashLSH at our threshold, and the same candidates
    for every unit of another template queried against one template's units."""
    indexed, queries = _units("jiguan-gongwei"), _units("gongshang-ju")
    sigs, query_sigs = signatures(indexed), signatures(queries)
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == lsh_params(LSH_THRESHOLD, NUM_PERM)
    for i, sig in enumerate(sigs):
        lsh.insert(i, MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashvalues=sig))
    table = BandTable(lsh.b, lsh.r)
    table.add(np.arange(len(sigs)), sigs)
    ours = table.query(query_sigs)
    found = 0
    for sig, (got, votes) in zip(query_sigs, ours, strict=True):
        theirs = lsh.query(MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashvalues=sig))
        assert sorted(got.tolist()) == sorted(theirs)
        assert votes.tolist() == sorted(votes.tolist(), reverse=True)  # strongest first
        found += len(theirs)
    assert found > 0  # the two templates share stock sentences, so the comparison is not empty


@pytest.mark.parametrize(("bands", "rows"), [(37, 3), (25, 5), (1, 1)])
def test_band_keys_follow_the_step_by_step_hash(bands: int, rows: int) -> None:
    """Saved indexes hold band keys: the vectorised hash must stay the one defined step by step
    (start at 0; per row key * MIX + value + row + 1; then key * MIX + band + 1; xor-shift; the
    low bits a saved table keeps its posting in left zero)."""
    sigs = np.random.default_rng(3).integers(0, 2**32, (20, NUM_PERM), dtype=np.uint32)
    mix, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1
    expected = []
    for sig in sigs.tolist():
        row_keys = []
        for band in range(bands):
            key = 0
            for r in range(rows):
                key = (key * mix + sig[band * rows + r] + r + 1) & mask
            key = (key * mix + band + 1) & mask
            row_keys.append((key ^ (key >> 29)) & int(KEY_MASK))
        expected.append(row_keys)
    assert band_keys(sigs, bands, rows).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(additions=st.lists(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 99)),
                                   max_size=30), max_size=12),
       keys=st.lists(st.integers(0, 22), max_size=15),
       cap=st.sampled_from([None, 0, 2, 5, 40]))
def test_sorted_table_lookup_is_a_multimap(additions: list[list[tuple[int, int]]],
                                           keys: list[int], cap: int | None) -> None:
    """Runs added one at a time (merged as they grow) answer like a plain list of pairs: every
    entry of a key, or none and the key's count in the whole table when it is crowded."""
    table = SortedTable(np.uint32)
    for added in additions:
        table.add(np.array([k for k, _ in added], np.uint64),
                  np.array([v for _, v in added], np.uint32))
    everything = [pair for added in additions for pair in added]
    assert len(table.runs) <= max(1, len(everything)).bit_length()
    at, values, counts = table.lookup(np.array(keys, np.uint64), cap)
    got = sorted(zip(at.tolist(), values.tolist(), strict=True))
    held = [[v for k, v in everything if k == key] for key in keys]
    assert counts.tolist() == [len(h) for h in held]
    assert got == sorted((i, v) for i, h in enumerate(held) if cap is None or len(h) <= cap
                         for v in h)


@settings(max_examples=80, deadline=None)
@given(repeats=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 400)), max_size=8),
       keys=st.lists(st.integers(0, 14), max_size=20),
       cap=st.sampled_from([None, 0, 3, 63, 64, 65, 200, 500]))
def test_array_run_answers_like_a_list(repeats: list[tuple[int, int]], keys: list[int],
                                       cap: int | None) -> None:
    """Keys repeated many times, absent, below and above every stored key: a run returns every
    entry of a key, or none when it has more than the cap, and always its count."""
    stored = np.array(sorted(k for k, n in repeats for _ in range(n)), np.uint64)
    values = np.arange(len(stored), dtype=np.uint32)  # each entry's value is its place
    at, got, counts = ArrayRun(stored, values).lookup(np.array(keys, np.uint64), cap)
    expected = []
    for i, k in enumerate(keys):
        mine = np.flatnonzero(stored == k).tolist()
        assert counts[i] == len(mine)
        expected += [] if cap is not None and len(mine) > cap else [(i, v) for v in mine]
    assert sorted(zip(at.tolist(), got.tolist(), strict=True)) == sorted(expected)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 6000),
       crowded=st.lists(st.tuples(st.sampled_from([0, 1, 2**63, 2**64 - 1, None]),
                                  st.integers(1, 300)), max_size=4))
@example(seed=1, n=2000, crowded=[(2**64 - 1, 40)])  # a crowded key at the very end
def test_key_directory_bounds_are_searchsorted(seed: int, n: int,
                                               crowded: list[tuple[int | None, int]]) -> None:
    """Well-mixed keys, keys repeated past a window, keys at both ends of the range: the
    directory's bounds are numpy's binary search's, for stored, absent and extreme keys."""
    rng = np.random.default_rng(seed)
    parts = [rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)]
    for key, count in crowded:
        value = rng.integers(0, 2**64 - 1, dtype=np.uint64) if key is None else np.uint64(key)
        parts.append(np.full(count, value, np.uint64))
    keys = np.sort(np.concatenate(parts))
    stored = keys[rng.integers(0, len(keys), 200)] if len(keys) else keys
    query = np.concatenate([stored, rng.integers(0, 2**64 - 1, 200, dtype=np.uint64),
                            np.array([0, 1, 2**64 - 2, 2**64 - 1], np.uint64)])
    left, right = KeyDirectory(keys).bounds(query)
    assert left.tolist() == np.searchsorted(keys, query, side="left").tolist()
    assert right.tolist() == np.searchsorted(keys, query, side="right").tolist()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60),
       repeats=st.lists(st.integers(0, 5), max_size=60))
def test_distinct_is_numpys_unique(values: list[int], repeats: list[int]) -> None:
    """Sorted distinct values, as np.unique gives them, with repeats and extremes."""
    again = [v for v, n in zip(values, repeats, strict=False) for _ in range(n)]
    array = np.array(values + again, np.int64)
    assert distinct(array).tolist() == np.unique(array).tolist()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 5000),
       prefixes=st.integers(1, 64), repeats=st.integers(0, 50), threads=st.integers(1, 3))
@example(seed=0, n=0, prefixes=1, repeats=0, threads=2)
@example(seed=1, n=1, prefixes=1, repeats=0, threads=2)
def test_sort_keys_is_a_stable_argsort(seed: int, n: int, prefixes: int, repeats: int,
                                       threads: int) -> None:
    """Keys sharing their top bits (so the packed sort leaves them in position order, to be put
    right), keys repeated, keys at both ends of the range: numpy's stable argsort exactly."""
    rng = np.random.default_rng(seed)
    tops = rng.integers(0, 2**64 - 1, prefixes, dtype=np.uint64, endpoint=True)
    keys = tops[rng.integers(0, prefixes, n)] ^ rng.integers(0, 1 << 12, n, dtype=np.uint64)
    if n:
        keys[rng.integers(0, n, repeats)] = np.array([0, 2**64 - 1, keys[0]], np.uint64)[seed % 3]
    got, order = sort_keys(keys, threads)
    expected = np.argsort(keys, kind="stable")
    assert order.tolist() == expected.tolist()
    assert got.tolist() == keys[expected].tolist()


@settings(max_examples=80, deadline=None)
@given(columns=st.lists(st.lists(st.integers(0, 2**40), min_size=30, max_size=30),
                        min_size=1, max_size=3),
       narrow=st.integers(1, 2**20))
def test_lex_order_is_lexsort(columns: list[list[int]], narrow: int) -> None:
    """Sorted directly with the rows' places below the columns when all fit in 64 bits (41 and
    up to 18 bits), packed and argsorted when only the columns fit (41 and 19 or 20), left to
    lexsort when they do not (three columns): either way an order of every row that puts the
    keys in numpy's lexsort order (equal keys in any order)."""
    keys = [np.array(c, np.int64) % narrow if i else np.array(c, np.int64)
            for i, c in enumerate(columns)]
    order = lex_order(*keys)
    assert sorted(order.tolist()) == list(range(len(keys[0])))
    expected = np.lexsort(keys[::-1])
    assert [k[order].tolist() for k in keys] == [k[expected].tolist() for k in keys]


def test_common_mask_counts_documents_not_repeats() -> None:
    """A phrase held by N documents counts N, whatever its offset to the sampling grid; a
    document repeating it counts once; the characters around it are not marked."""
    phrase = "坚持以人民为中心的发展思想推动高质量发展"
    refs = ["甲" * doc + phrase + "乙" * 5 + phrase * (doc % 3) for doc in range(7)]
    seeds = SeedTable()
    for doc, chars in enumerate(refs):
        keys, pos = sampled_windows(chars)
        seeds.add(keys, pack(doc, pos))
    query = "丙丁" + phrase + "戊己"
    hits = seeds.hits(query)
    runs = exact_runs(query, hits, dict(enumerate(refs)), K)
    spans = [np.array([getattr(r, f) for r in runs]) for f in ("doc", "q_start", "q_end")]
    assert STRIDE < 7
    mask = common_mask(len(query), *spans, hits.crowded, needed=7)
    assert mask.tolist() == [False] * 2 + [True] * len(phrase) + [False] * 2
    assert not common_mask(len(query), *spans, hits.crowded, needed=8).any()


def test_what_the_cache_folder_keeps_is_datasketchs_and_jiebas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MinHash parameters, the LSH split and jieba's dictionary are made from datasketch
    and jieba the first time, kept in the cache folder, and read back unchanged."""
    import jieba
    from datasketch.hashfunc import sha1_hash32 as datasketch_sha1
    from datasketch.lsh import _optimal_param
    from datasketch.minhash import _fmix

    from app.core import cache, fingerprint, words

    monkeypatch.setenv("CHACHONG_CACHE_DIR", str(tmp_path))
    lsh_params.cache_clear()  # made here again, into the new cache folder
    fingerprint.minhash_parameters.cache_clear()
    made = cache.remembered("minhash-test", fingerprint._from_datasketch)
    again = cache.remembered("minhash-test", lambda: pytest.fail("read from the cache"))
    reference = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    for key, expected in (("a", reference.permutations[0]), ("b", reference.permutations[1]),
                          ("empty", reference.hashvalues)):
        assert made[key].tolist() == again[key].tolist() == expected.tolist()
    values = np.random.default_rng(5).integers(0, 2**32, 5000, dtype=np.uint32)
    assert fingerprint.fmix32(values).tolist() == _fmix(values, 32).tolist()
    for word in ("党建", "高质量发展", "x", ""):
        assert fingerprint.sha1_hash32(word.encode()) == datasketch_sha1(word.encode())
    assert lsh_params(LSH_THRESHOLD, NUM_PERM) == tuple(
        int(v) for v in _optimal_param(LSH_THRESHOLD, NUM_PERM, 0.5, 0.5))
    made_words = words._load()
    kept = {p.name.split("-")[0] + p.suffix for p in tmp_path.iterdir()}
    assert kept == {"jieba.marisa", "jieba.npz", "lsh.npz", "minhash.npz"}
    monkeypatch.setattr(words, "_make", lambda _: pytest.fail("read from the cache"))
    read_words = words._load()
    text = template("jianshe-ju")
    assert words.cut(text, made_words) == words.cut(text, read_words) == \
        jieba.lcut(text, HMM=False)


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.integers(0, 60), max_size=300), limit=st.integers(1, 8))
def test_a_memo_answers_its_function_and_holds_at_most_two_generations(keys: list[int],
                                                                      limit: int) -> None:
    """The memo the word hashes go through: every lookup is the function's value, the function
    runs once a key while the key stays in use (looked up at least once a generation), and
    never more than twice ``limit`` keys are held, however many distinct keys come."""
    calls: list[int] = []
    memo: Memo[int, int] = Memo(lambda k: calls.append(k) or k * k, limit)
    steady = 61  # looked up first and between any two others: it never leaves
    assert memo[steady] == steady * steady
    for key in keys:
        assert memo[key] == key * key and memo[steady] == steady * steady
        assert len(memo) + len(memo._previous) <= 2 * limit
    assert calls.count(steady) == 1
    if len({*keys, steady}) <= limit:  # never past one generation: each computed once
        assert sorted(calls) == sorted({*keys, steady})
