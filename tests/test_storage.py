"""The storage engine: block-encoded runs, segments, flushes, merges and the write-ahead log.

Every index answers a check exactly as one in-memory index of the same references would, however
its references are split between segments and the log's tail, before, during and after a merge;
and a process killed at any step of a flush or a merge leaves an index that opens, verifies, and
holds every reference whose addition was acknowledged.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from api_helpers import TestClient, isolated_settings
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import CORPUS_DIR, ROOT, TEMPLATE_IDS, case_text

from app.api.main import create_app
from app.core import CheckResult, Reference, build_index, check_text, load_corpus
from app.core import index as index_module
from app.core.combined import CombinedIndex
from app.core.document import analyse
from app.core.fingerprint import signatures
from app.core.index import MultiIndex
from app.storage import FlushPolicy, LiveIndex, Maintainer, MergePolicy, verify_folder
from app.storage import segment as segment_module
from app.storage.folder import IndexFolder
from app.storage.manifest import SegmentEntry
from app.storage.records import decode_text
from app.storage.runs import (
    DELTA,
    ENCODINGS,
    OFFSET,
    PAGE_WORDS,
    POSTING_MASK,
    FilterWriter,
    KeyFilter,
    Run,
    RunInfo,
    RunWriter,
    _unpack,
)
from app.storage.segment import SegmentPart, UnitOwners

QUERIES = ("case-000.txt", "case-002.txt", "case-003.txt", "case-009.txt", "case-041.txt")


def _dump(result: CheckResult) -> dict:
    return result.model_dump(mode="json")


def corpus(n: int = 24) -> list[Reference]:
    """The templates and real reports (dev cases), as references of an index that grows."""
    refs = load_corpus(CORPUS_DIR)
    refs += [Reference(f"report-{i:03d}", case_text(f"case-{i:03d}.txt"), f"报告{i}", "报送",
                       {"unit": f"单位{i % 3}"}) for i in range(10, 10 + n)]
    return refs


def answers(index: object) -> list[dict]:
    return [_dump(check_text(case_text(name), index, title=name)) for name in QUERIES]  # type: ignore[arg-type]


# --- runs on disk -------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(repeats=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 300)), max_size=8),
       others=st.integers(0, 3000), keys=st.lists(st.integers(0, 14), max_size=20),
       cap=st.sampled_from([None, 0, 3, 63, 64, 65, 200]), columns=st.integers(0, 2),
       encoding=st.sampled_from(ENCODINGS), dense=st.booleans())
@example(repeats=[(1, 64), (5, 300)], others=0, keys=[5], cap=63, columns=1, encoding=OFFSET,
         dense=False)
@example(repeats=[(1, 64), (5, 300)], others=0, keys=[5], cap=63, columns=1, encoding=DELTA,
         dense=False)
def test_block_encoded_runs_answer_like_a_list(tmp_path_factory: pytest.TempPathFactory,
                                               repeats: list[tuple[int, int]], others: int,
                                               keys: list[int], cap: int | None,
                                               columns: int, encoding: str,
                                               dense: bool) -> None:
    """Keys repeated across many blocks and pages, absent, below and above every stored key,
    with random keys between them (spread over all 64 bits, so blocks store whole words, or
    close together, so they pack): a run of either encoding returns every word of a key with
    its columns, or none and the key's exact count when it has more than the cap."""
    rng = np.random.default_rng(len(repeats) * 7919 + others)
    base = {k: np.uint64((k + 1) << 58) for k in range(15)}
    words = [base[k] | np.uint64(i) for k, n in repeats for i in range(n)]
    noise = rng.integers(0, 2**64, others, dtype=np.uint64)
    if dense:  # within 2**44 of each other, among the repeated keys: packed below 56 bits
        noise = (np.uint64(6 << 58) | ((noise >> np.uint64(44)) << np.uint64(24))
                 | (noise & POSTING_MASK))
    stored = np.unique(np.concatenate([np.array(words, np.uint64), noise]))
    cols = [rng.integers(0, 2 ** (7 + 13 * c), len(stored), dtype=np.uint64)
            for c in range(columns)]
    path = tmp_path_factory.mktemp("run") / "t.run"
    writer = RunWriter(path, columns, len(stored), encoding=encoding)
    for a in range(0, len(stored), 777):  # in pieces, as merges write
        writer.add(stored[a : a + 777], [c[a : a + 777] for c in cols])
    writer.close()
    run = Run.load(path, RunInfo(len(stored), columns, encoding))
    query = np.array([base[k] for k in keys] + list(noise[:5] & ~POSTING_MASK), np.uint64)
    at, got, got_cols, counts = run.lookup(query, cap)
    for i, key in enumerate(query):
        mine = np.flatnonzero((stored & ~POSTING_MASK) == key)
        assert counts[i] == len(mine)
        crowded = cap is not None and len(mine) > cap
        here = np.flatnonzero(at == i)
        assert sorted(got[here].tolist()) == ([] if crowded else stored[mine].tolist())
        for c, got_c in zip(cols, got_cols, strict=True):
            assert sorted(got_c[here].tolist()) == ([] if crowded else sorted(c[mine].tolist()))
    # a cap a key (what earlier segments left of a limit): each key by its own
    caps = rng.choice([0, 3, 63, 64, 65, 200], len(query))
    at, got, _, counts = run.lookup(query, caps)
    for i, key in enumerate(query):
        mine = np.flatnonzero((stored & ~POSTING_MASK) == key)
        assert counts[i] == len(mine)
        wanted = [] if len(mine) > caps[i] else stored[mine].tolist()
        assert sorted(got[at == i].tolist()) == wanted
    scanned, scanned_cols = run.scan(int(base[3]), int(base[9]))
    inside = (stored >= base[3]) & (stored < base[9])
    assert scanned.tolist() == stored[inside].tolist()
    for c, got_c in zip(cols, scanned_cols, strict=True):
        assert got_c.tolist() == c[inside].tolist()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_run_written_in_pieces_of_any_size_reads_back_across_pages(tmp_path: Path,
                                                                     encoding: str) -> None:
    """Pieces smaller than a page, several pages at once and ones ending mid-page (a build adds a
    segment's whole sorted table in one piece) give the same run, page after page."""
    rng = np.random.default_rng(3)
    stored = np.unique(rng.integers(0, 2**64, 5 * PAGE_WORDS // 2, dtype=np.uint64))
    column = rng.integers(0, 2**20, len(stored), dtype=np.uint64)
    cuts = [0, 5, PAGE_WORDS - 3, PAGE_WORDS + 10, 2 * PAGE_WORDS + 7, len(stored)]
    path = tmp_path / "t.run"
    writer = RunWriter(path, 1, len(stored), encoding=encoding)
    for a, b in itertools.pairwise(cuts):
        writer.add(stored[a:b], [column[a:b]])
    writer.close()
    run = Run.load(path, RunInfo(len(stored), 1, encoding))
    words, cols = run.scan(0, 1 << 64)
    assert words.tolist() == stored.tolist()
    assert cols[0].tolist() == column.tolist()
    keys = stored[:: PAGE_WORDS // 7] & ~POSTING_MASK
    _, got, _, counts = run.lookup(keys, None)
    assert counts.min() >= 1 and set(stored[:: PAGE_WORDS // 7].tolist()) <= set(got.tolist())


def test_bit_unpacking_reads_rows_of_any_width_and_first_bit_in_one_call() -> None:
    """A read's rows come from pages of different widths, and a column's rows start anywhere in
    a byte: each row reads as the bits a plain bit-by-bit reader finds there."""
    rng = np.random.default_rng(11)
    buffer = rng.integers(0, 256, 4096, dtype=np.uint8)
    bits_of = np.unpackbits(buffer, bitorder="little")
    for widths in ([5], [1, 7, 20], [0, 33, 56]):
        rows = 40
        bits = rng.choice(widths, rows).astype(np.int64)
        offset = rng.integers(0, 8 * 3000, rows).astype(np.int64)
        got = _unpack(buffer, offset, bits, 9)
        for r in range(rows):
            for i in range(9):
                start = int(offset[r] + i * bits[r])
                chunk = bits_of[start : start + int(bits[r])]
                assert int(got[r, i]) == sum(int(b) << j for j, b in enumerate(chunk))


def test_key_filter_never_hides_a_stored_key_and_rules_out_most_others() -> None:
    """No false negatives (a check would miss a copy); false positives only cost a read (about
    3 % of absent keys at eight bits a key)."""
    rng = np.random.default_rng(7)
    stored = np.sort(rng.integers(0, 2**64, 200_000, dtype=np.uint64) & ~POSTING_MASK)
    key_filter = KeyFilter(np.zeros(KeyFilter.size_for(len(stored)), np.uint64))
    for a in range(0, len(stored), 30_000):
        key_filter.add_sorted(stored[a : a + 30_000])
    assert key_filter.might_hold(stored).all()
    absent = rng.integers(0, 2**64, 200_000, dtype=np.uint64) & ~POSTING_MASK
    assert key_filter.might_hold(absent).mean() < 0.04


def test_a_run_writer_lets_go_of_the_table_it_was_given(tmp_path: Path) -> None:
    """What waits for the next page is copied: a view of it would keep a build's whole table
    (hundreds of MB) alive until the run is closed."""
    rng = np.random.default_rng(5)
    table = np.sort(rng.integers(0, 2**64, 3 * PAGE_WORDS + 100, dtype=np.uint64))
    column = rng.integers(0, 2**20, len(table), dtype=np.uint64)
    given = weakref.ref(table), weakref.ref(column)
    writer = RunWriter(tmp_path / "t.run", 1, len(table))
    writer.add(table, [column])
    expected = table.tolist(), column.tolist()
    del table, column
    gc.collect()
    assert given[0]() is None and given[1]() is None
    writer.close()
    run = Run.load(tmp_path / "t.run", RunInfo(len(expected[0]), 1, OFFSET))
    words, cols = run.scan(0, 1 << 64)
    assert (words.tolist(), cols[0].tolist()) == expected


def test_a_filter_written_as_keys_come_is_the_filter_built_in_memory(tmp_path: Path) -> None:
    """The filter a run writer streams to its file, in pieces of any size (empty ones, pieces
    whose keys share a word with the piece before, keys repeated across a cut), holds every bit
    the in-memory filter sets for the same keys, and nothing more; keys out of order are
    refused rather than written wrong."""
    rng = np.random.default_rng(11)
    stored = np.sort(rng.integers(0, 2**64, 50_000, dtype=np.uint64) & ~POSTING_MASK)
    stored = np.sort(np.concatenate([stored, stored[::97]]))  # repeated keys, some at cuts
    size = KeyFilter.size_for(len(stored))
    in_memory = KeyFilter(np.zeros(size, np.uint64))
    in_memory.add_sorted(stored)
    streamed = FilterWriter(tmp_path / "f.npy", size)
    cuts = sorted({0, len(stored), *rng.integers(0, len(stored), 40).tolist()})
    for a, b in itertools.pairwise([0, 0, *cuts]):
        streamed.add_sorted(stored[a:b])
    streamed.close()
    written = np.load(tmp_path / "f.npy")
    assert written.dtype == np.uint64 and len(written) == size
    assert np.array_equal(written, in_memory.words)
    assert KeyFilter(written).might_hold(stored).all()
    backwards = FilterWriter(tmp_path / "g.npy", size)
    backwards.add_sorted(stored[-10:])
    with pytest.raises(ValueError, match="ascending"):
        backwards.add_sorted(stored[:10])
    backwards.abort()


# --- segments, tail, flush and merge answer as one index ------------------------------------------

def small_policy() -> tuple[FlushPolicy, MergePolicy]:
    return FlushPolicy(docs=1, seconds=3600, batch=4), MergePolicy(floor_docs=2, factor=2)


def grown(path: Path, refs: list[Reference], removed: tuple[str, ...] = ()) -> LiveIndex:
    """An index fed ``refs`` a few at a time, flushed into segments of 4 and merged two by two
    as it goes; then ``removed`` removed (some flushed, some only logged)."""
    live = LiveIndex(path)
    flush, merge = small_policy()
    maintainer = Maintainer(IndexFolder(path), flush, merge)
    assert maintainer.folder.maintainer_lock.acquire()
    for a in range(0, len(refs), 3):
        live.add(refs[a : a + 3])
        maintainer.flush()
        while maintainer.merge():
            pass
    for i, ref_id in enumerate(removed):
        live.remove(ref_id)
        if i % 2:
            maintainer.flush()
    maintainer.folder.maintainer_lock.release()
    live.sync()
    return live


def test_segments_and_tail_answer_like_one_index_in_memory(tmp_path: Path) -> None:
    refs = corpus()
    live = grown(tmp_path / "idx", refs[:-3])
    live.add(refs[-3:])  # the tail: logged, not flushed
    assert len(live.manifest.segments) >= 2
    assert len(live.parts()[-1]) == 3
    expected = answers(build_index(refs))
    assert expected[0]["copied_chars"] > 0
    assert answers(MultiIndex(live.parts())) == expected


def segment_texts(index: Path) -> set[str]:
    """Every text the segments on disk hold. A server's merge may remove a segment while it
    is read (its texts are in the merged one by then): the folder is read again, for up to
    ten seconds, since a busy machine may take a while to finish removing one folder."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            return _texts_in_segments(index)
        time.sleep(0.05)
    return _texts_in_segments(index)  # still a folder without its files: no merge's doing


def _texts_in_segments(index: Path) -> set[str]:
    texts = set()
    for segment in (index / "segments").iterdir():
        offsets = np.load(segment / "texts.npy").tolist()
        blob = (segment / "texts.bin").read_bytes()
        texts |= {decode_text(blob[a:b]) for a, b in itertools.pairwise(offsets)}
    return texts


def test_removed_references_are_gone_from_answers_and_from_disk(tmp_path: Path) -> None:
    """Removed references are never reported (also before a flush); after a merge reclaims
    them no file of the index holds their text or id, and the log holds nothing of them."""
    refs = corpus()
    gone = ("report-012", "report-013", "report-020", TEMPLATE_IDS[2])
    live = grown(tmp_path / "idx", refs, gone)
    kept = [r for r in refs if r.id not in gone]
    assert answers(MultiIndex(live.parts())) == answers(build_index(kept))
    assert live.count() == len(kept) and all(ref_id not in live for ref_id in gone)
    flush, _ = small_policy()
    maintainer = Maintainer(IndexFolder(live.folder.path), flush,
                            MergePolicy(floor_docs=2, factor=2, reclaim_share=0.01))
    assert maintainer.folder.maintainer_lock.acquire()
    maintainer.flush_all()
    while maintainer.merge():
        pass
    maintainer.folder.maintainer_lock.release()
    live.sync()
    assert all(not e.deleted for e in live.manifest.segments)
    assert answers(MultiIndex(live.parts())) == answers(build_index(kept))
    assert not segment_texts(live.folder.path) & {r.text for r in refs if r.id in gone}
    for segment in (live.folder.path / "segments").iterdir():
        ids = (segment / "docs.sqlite3").read_bytes()
        assert not any(ref_id.encode() in ids for ref_id in gone), segment.name
    assert live.folder.wal is not None and live.folder.wal.since(-1)[1] == []
    assert not list((live.folder.path / "deletes").iterdir())


def test_candidates_ranked_by_dense_rank_answer_as_by_packed_unit_numbers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check ranks band candidates by (part, unit) packed in 32 bits, or by their dense rank
    when the units are too many to pack: both orders are the same, and so are the answers (on
    segments holding removals, a tail and a part of one reference)."""
    refs = corpus()
    live = grown(tmp_path / "idx", refs[:-2], ("report-012", "report-020"))
    live.add(refs[-2:])
    index = MultiIndex(live.parts())
    assert len(index.parts) >= 3

    def candidates() -> list[list[list[int]]]:
        found = []
        for name in QUERIES:
            query = analyse(case_text(name))
            sigs = signatures([query.unit_chars(u) for u in query.units])
            found += [[p.docs.tolist(), p.starts.tolist(), p.ends.tolist(), p.votes.tolist()]
                      for p in index.lookup(query.norm.chars, sigs, 3)[1]]
        return found

    packed, packed_answers = candidates(), answers(index)
    monkeypatch.setattr(index_module, "_RANK_UNIT_BITS", 1)  # every part's units too many
    assert candidates() == packed
    assert answers(index) == packed_answers
    # ties: units sharing as many bands with a query unit, more of them than are kept
    assert sum(len(set(votes)) < len(votes) == 3 for *_, votes in packed) >= 5
    assert sum(r["copied_chars"] > 0 for r in packed_answers) >= 3


def test_a_removal_read_while_another_process_publishes_and_cleans_up(tmp_path: Path) -> None:
    """A server catching up reads the log just before another process's maintainer publishes
    a new manifest and removes the old removal marks: the removals it applies must not read the
    marks of the manifest it holds again (they are gone), and the next catch-up moves on."""
    refs = corpus(6)
    live = grown(tmp_path / "idx", refs, ("report-010", "report-011"))
    assert any(e.deletes for e in live.manifest.segments)  # the marks this server holds
    maintainer = Maintainer(IndexFolder(live.folder.path), *small_policy())
    assert maintainer.folder.maintainer_lock.acquire()
    wal = live.folder.wal
    assert wal is not None
    read_log = wal.since

    def since_then_publish(seq: int, limit: int = -1) -> tuple[int, list]:
        answer = read_log(seq, limit)
        maintainer.flush_all()  # the other process: a new manifest, the old marks removed
        return answer

    wal.since = since_then_publish  # type: ignore[method-assign]
    live.remove("report-012")
    wal.since = read_log  # type: ignore[method-assign]
    maintainer.folder.maintainer_lock.release()
    gone = ("report-010", "report-011", "report-012")
    assert all(ref_id not in live for ref_id in gone)
    live.sync()
    assert all(ref_id not in live for ref_id in gone)
    kept = [r for r in refs if r.id not in gone]
    assert answers(MultiIndex(live.parts())) == answers(build_index(kept))


def test_texts_asked_together_read_as_one_at_a_time(tmp_path: Path) -> None:
    """``prefetch`` (a check's hundreds of sources at once) gives the texts ``chars`` gives,
    whether the process holds some of them already or none, leaves out removed references and
    slots of none, and keeps what it read for the next check."""
    live = grown(tmp_path / "idx", corpus(10), ("report-012", "report-013"))
    index = MultiIndex(live.parts())
    slots = list(range(index.parts[0].first_slot - 2, index.parts[-1].end_slot + 2))
    segment_module._CHARS.items.clear()
    expected = {s: index.chars(s) for s in slots if index.alive(s)}
    assert 0 < len(expected) < len(slots)
    for warm in (slots[::3], []):
        segment_module._CHARS.items.clear()
        for s in warm:
            if index.alive(s):
                index.chars(s)
        got = index.prefetch(set(slots))
        assert got == expected
        again = index.prefetch(set(slots))
        assert all(again[s] is got[s] for s in expected)


def test_liveness_of_many_slots_answers_like_asking_one_at_a_time(tmp_path: Path) -> None:
    """``alive_many`` (a check asks it of thousands of slots at once) agrees with ``alive``
    everywhere: segments numbered without gaps and with them (after a merge dropped the
    removed), the tail, slots of no reference, and an index combined with a private batch."""
    refs = corpus(10)
    gone = ("report-012", "report-013", TEMPLATE_IDS[1])
    live = grown(tmp_path / "idx", refs, gone)
    live.add([Reference("tail-1", case_text("case-030.txt"))])

    def agree() -> None:
        index = MultiIndex(live.parts())
        batch = build_index([Reference("batch-1", case_text("case-031.txt"))])
        combined = CombinedIndex(index, batch)
        slots = np.unique(np.concatenate([np.arange(p.first_slot - 3, p.end_slot + 3)
                                          for p in live.parts()]))
        for target, asked in ((index, slots),
                              (combined, np.concatenate([slots, slots + combined.shift]))):
            expected = [target.alive(int(s)) for s in asked]
            assert target.alive_many(asked).tolist() == expected
            assert 0 < sum(expected) < len(asked)
        assert sum(index.alive_many(slots)) == len(refs) - len(gone) + 1

    agree()
    maintainer = Maintainer(IndexFolder(live.folder.path), small_policy()[0],
                            MergePolicy(floor_docs=2, factor=2, reclaim_share=0.01))
    assert maintainer.folder.maintainer_lock.acquire()
    while maintainer.merge():
        pass
    maintainer.folder.maintainer_lock.release()
    live.sync()
    assert any(not p._dense for p in live.parts() if isinstance(p, SegmentPart))
    agree()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=60))
@example([0] * 50 + [1])  # many empty documents: the map's steps give up, a search ends it
@example([200, 0, 0, 3, 0])
def test_the_document_of_a_unit_is_the_last_that_begins_at_or_before_it(
        sizes: list[int]) -> None:
    first_unit = np.array([0, *itertools.accumulate(sizes)], np.int64)
    if first_unit[-1] == 0:
        return  # a segment with no units is never asked
    owners = UnitOwners(first_unit)
    units = np.arange(int(first_unit[-1]), dtype=np.int64)
    expected = [max(d for d in range(len(sizes)) if first_unit[d] <= u) for u in units]
    assert owners(units).tolist() == expected
    shuffled = units[::-1].copy()
    assert owners(shuffled).tolist() == expected[::-1]


def test_a_merge_while_checks_run_changes_no_answer(tmp_path: Path) -> None:
    """Checks keep running (catching up before each, as a server does) while another process's
    maintainer merges every segment into one: every answer equals the answer before."""
    refs = corpus()
    path = tmp_path / "idx"
    live = LiveIndex(path)
    flush, _ = small_policy()
    writer = Maintainer(IndexFolder(path), flush, MergePolicy(floor_docs=1000, factor=50))
    assert writer.folder.maintainer_lock.acquire()
    for a in range(0, len(refs), 4):
        live.add(refs[a : a + 4])
        writer.flush()
    live.sync()
    assert len(live.manifest.segments) == len(refs) // 4 + (len(refs) % 4 > 0)
    before = answers(MultiIndex(live.parts()))
    seen: list[list[dict]] = []
    stop = threading.Event()

    def check_again_and_again() -> None:
        while not stop.is_set():
            live.sync()
            seen.append(answers(MultiIndex(live.parts())))

    checker = threading.Thread(target=check_again_and_again)
    checker.start()
    writer.merge_policy = MergePolicy(floor_docs=1000, factor=len(live.manifest.segments))
    try:
        assert writer.merge()
    finally:
        stop.set()
        checker.join()
        writer.folder.maintainer_lock.release()
    live.sync()
    assert len(live.manifest.segments) == 1
    assert seen and all(found == before for found in seen)
    assert answers(MultiIndex(live.parts())) == before


def test_a_merged_away_segment_is_let_go(tmp_path: Path) -> None:
    """The maintainer keeps no segment a merge replaced (each holds its filters and fences: a
    build merging dozens of them must not hold them all)."""
    refs = corpus()[:8]
    path = tmp_path / "idx"
    live = LiveIndex(path)
    flush, _ = small_policy()
    writer = Maintainer(IndexFolder(path), flush, MergePolicy(floor_docs=1000, factor=2))
    assert writer.folder.maintainer_lock.acquire()
    try:
        for a in (0, 4):
            live.add(refs[a : a + 4])
            writer.flush()
        names = [e.name for e in writer.folder.manifest().segments]
        assert len(names) == 2
        opened = [weakref.ref(writer.folder.segment(name)) for name in names]
        assert writer.merge()
        gc.collect()
        assert [ref() for ref in opened] == [None, None]
        assert len(writer.folder.manifest().segments) == 1
    finally:
        writer.folder.maintainer_lock.release()


# --- the merge policy ---------------------------------------------------------------------------

def _entries(*sizes: int, deleted: dict[int, int] | None = None) -> list[SegmentEntry]:
    return [SegmentEntry(f"s{i}", n, n * 80, (deleted or {}).get(i, 0),
                         deleted_since=1000.0 if (deleted or {}).get(i) else None)
            for i, n in enumerate(sizes)]


def test_policy_merges_a_full_tier_of_neighbours_lowest_first() -> None:
    policy = MergePolicy(floor_docs=1000, factor=4)
    assert policy.select(_entries(64000, 16000, 16000, 4000, 1000, 1000, 1000)) is None
    assert policy.select(_entries(64000, 16000, 1000, 1000, 1000, 1000)) == (2, 6)
    # two full tiers: the lowest first
    assert policy.select(_entries(4000, 4000, 4000, 4000, 10, 20, 30, 40)) == (4, 8)
    # neighbours only: a small segment between two tiers waits
    assert policy.select(_entries(1000, 9000, 1000, 1000, 1000)) is None
    # never past the units a posting can name
    assert MergePolicy(floor_docs=1000, factor=2, max_units=100_000).select(
        _entries(1000, 1000)) is None


def test_policy_lets_small_segments_between_larger_ones_ride_along() -> None:
    policy = MergePolicy(floor_docs=1000, factor=4)
    # removals left two tier-0 segments between tier-1 ones: they count as tier 1
    assert policy.tiers(_entries(9000, 1000, 800, 9000, 9000)) == [1, 1, 1, 1, 1]
    assert policy.select(_entries(9000, 1000, 800, 9000, 9000)) == (0, 4)
    # at the newest end a small segment is not enclosed: it waits for its own tier
    assert policy.tiers(_entries(9000, 9000, 9000, 1000)) == [1, 1, 1, 0]
    assert policy.select(_entries(9000, 9000, 9000, 1000)) is None
    # a run of a whole tier's worth of small segments merges on its own, not lifted
    assert policy.tiers(_entries(9000, 1000, 1000, 1000, 1000, 9000)) == [1, 0, 0, 0, 0, 1]
    assert policy.select(_entries(9000, 1000, 1000, 1000, 1000, 9000)) == (1, 5)


def test_policy_keeps_the_number_of_segments_at_most_max_segments() -> None:
    sizes = (64000, 16000, 4000, 1000, 2000)
    assert MergePolicy(floor_docs=1000, factor=4, max_segments=5).select(_entries(*sizes)) is None
    # over the cap with no full tier: the neighbours holding the fewest documents
    assert MergePolicy(floor_docs=1000, factor=4, max_segments=4).select(
        _entries(*sizes)) == (1, 5)
    # still never past the units a posting can name
    assert MergePolicy(floor_docs=1000, factor=4, max_segments=4,
                       max_units=21000 * 80).select(_entries(*sizes)) is None


def test_policy_rewrites_a_segment_with_many_or_old_removals() -> None:
    policy = MergePolicy(floor_docs=1000, factor=4, reclaim_share=0.1, expunge_seconds=3600)
    assert policy.select(_entries(50000, 2000, deleted={1: 100}), now=2000.0) is None
    assert policy.select(_entries(50000, 2000, deleted={1: 200}), now=2000.0) == (1, 2)
    assert policy.select(_entries(50000, 2000, deleted={0: 1}), now=1000.0 + 3600) == (0, 1)


def test_policy_merges_a_quiet_index_down_to_two_rewriting_at_most_half() -> None:
    policy = MergePolicy(floor_docs=1000, factor=4, quiet_seconds=60)
    grown = _entries(57500, 31000, 4100, 4000, 1000, 1100, 1000)  # as a season left it
    assert policy.select(grown) is None
    assert policy.select(grown, quiet_for=59) is None
    assert policy.select(grown, quiet_for=60) == (1, 7)  # 42,200 of 99,700 rewritten
    assert policy.select(_entries(57500, 42200), quiet_for=600) is None
    assert policy.select(_entries(57500, 42200, 1000), quiet_for=600) == (1, 3)
    # more than half of the documents: left to the tiers
    assert policy.select(_entries(50000, 50000, 1000), quiet_for=600) is None
    assert MergePolicy(floor_docs=1000, factor=4, quiet_seconds=0).select(
        grown, quiet_for=1e9) is None
    # the widest merge that fits the units a posting can name; of those, the fewest documents
    assert MergePolicy(floor_docs=1000, factor=4, quiet_seconds=60, max_units=9000 * 80).select(
        grown, quiet_for=60) == (3, 7)
    assert MergePolicy(floor_docs=1000, factor=4, quiet_seconds=60, max_units=8200 * 80).select(
        _entries(57500, 4100, 4000, 3000), quiet_for=60) == (2, 4)


def test_a_quiet_index_is_merged_down_by_its_maintainer(tmp_path: Path) -> None:
    """Three flushed segments stay three while additions come; once the log has been empty
    for ``quiet_seconds`` the maintainer merges the two newest (four of the nine references:
    under half), and the two left answer as the three did."""
    refs = corpus()[:9]
    path = tmp_path / "idx"
    live = LiveIndex(path)
    writer = Maintainer(IndexFolder(path), FlushPolicy(docs=1, seconds=3600, batch=100),
                        MergePolicy(floor_docs=1000, factor=50, quiet_seconds=0.5))
    assert writer.folder.maintainer_lock.acquire()
    try:
        for a, b in ((0, 5), (5, 7), (7, 9)):
            live.add(refs[a:b])
            writer.flush()
        expected = answers(MultiIndex(live.parts()))
        assert not writer.merge()  # just flushed: not quiet
        time.sleep(0.6)
        assert writer.merge()
        assert not writer.merge()
        assert [e.docs for e in writer.folder.manifest().segments] == [5, 4]
        live.sync()
        assert answers(MultiIndex(live.parts())) == expected
    finally:
        writer.folder.maintainer_lock.release()


def as_version_8(index: Path) -> None:
    """Rewrite an index as the previous version wrote it: tables of differences, headers and
    manifest of version 8, which name no encoding."""
    for folder in sorted((index / "segments").iterdir()):
        header = json.loads((folder / "header.json").read_text(encoding="utf-8"))
        for name, info in header["tables"].items():
            old = Run.load(folder / f"{name}.run", RunInfo(**info))
            words, cols = old.scan(0, 1 << 64)
            del old
            writer = RunWriter(folder / f"{name}.run", info["columns"], max(len(words), 1),
                               segment_module.FILTER_BITS[name], encoding=DELTA)
            writer.add(words, [c.astype(np.uint64) for c in cols])
            writer.close()
            del info["encoding"]
        for file in header["files"]:
            header["files"][file] = {"bytes": (folder / file).stat().st_size,
                                     "sha256": segment_module.sha256(folder / file)}
        header["version"] = 8
        (folder / "header.json").write_text(json.dumps(header), encoding="utf-8")
    current = (index / "CURRENT").read_text(encoding="ascii").strip()
    manifest = json.loads((index / current).read_text(encoding="utf-8"))
    manifest["version"] = 8
    (index / current).write_text(json.dumps(manifest), encoding="utf-8")


def test_an_index_of_the_previous_version_answers_and_merges_into_this_one(
        tmp_path: Path) -> None:
    """Segments whose tables hold differences (version 8) open, verify and answer as they did,
    and a merge rewrites them as offsets (version 9) with the same answers."""
    refs = corpus()[:9]
    path = tmp_path / "idx"
    live = LiveIndex(path)
    policies = (FlushPolicy(docs=1, seconds=3600, batch=100),
                MergePolicy(floor_docs=1000, factor=50, quiet_seconds=1))
    writer = Maintainer(IndexFolder(path), *policies)
    assert writer.folder.maintainer_lock.acquire()
    for a, b in ((0, 5), (5, 7), (7, 9)):
        live.add(refs[a:b])
        writer.flush()
    expected = answers(MultiIndex(live.parts()))
    assert expected[0]["copied_chars"] > 0
    writer.folder.maintainer_lock.release()
    del live, writer  # nothing maps the files rewritten below
    gc.collect()

    as_version_8(path)
    old = LiveIndex(path)
    assert {s.runs[t].encoding for s in segments_of(old) for t in ("band", "seed")} == {DELTA}
    assert verify_folder(path)["documents"] == 9
    assert answers(MultiIndex(old.parts())) == expected
    writer = Maintainer(IndexFolder(path), *policies)
    assert writer.folder.maintainer_lock.acquire()
    try:
        assert writer.merge(quiet=True)
    finally:
        writer.folder.maintainer_lock.release()
    old.sync()
    merged = [s for s in segments_of(old) if s.header["version"] == 9]
    assert merged and {s.runs[t].encoding for s in merged for t in ("band", "seed")} == {OFFSET}
    assert answers(MultiIndex(old.parts())) == expected
    assert verify_folder(path)["documents"] == 9


def segments_of(live: LiveIndex) -> list[segment_module.Segment]:
    return [part.segment for part in live.parts() if isinstance(part, SegmentPart)]


# --- crashes at every step of a flush and a merge -------------------------------------------------

STEPS = ("flush:write", "flush:installed", "flush:publish", "flush:published", "flush:truncated",
         "merge:write", "merge:installed", "merge:publish", "merge:published")

_CRASHER = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from test_storage import corpus_refs
from app.storage import FlushPolicy, LiveIndex, Maintainer, MergePolicy
from app.storage.folder import IndexFolder

path, step, acked_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
refs = corpus_refs()
live = LiveIndex(path)
def die(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)
maintainer = Maintainer(IndexFolder(path), FlushPolicy(docs=1, batch=4),
                        MergePolicy(floor_docs=2, factor=2), step=die)
maintainer.folder.maintainer_lock.acquire()
for a in range(0, len(refs), 3):
    live.add(refs[a : a + 3])
    with acked_file.open("a") as out:  # acknowledged: on disk once add returned
        out.write("".join(r.id + "\\n" for r in refs[a : a + 3]))
    live.remove(refs[a].id) if a == 6 else None
    maintainer.flush()
    while maintainer.merge():
        pass
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_every_step_loses_no_acknowledged_reference(step: str,
                                                               tmp_path: Path) -> None:
    """A process adding references and flushing and merging as it goes is killed (SIGKILL) when
    it reaches ``step``: the index it leaves opens and verifies, holds every acknowledged
    reference (and no removed one), answers as the same references in memory, and the next
    maintainer folds in what the log holds and removes what the crash left half-done."""
    path, acked_file = tmp_path / "idx", tmp_path / "acked"
    done = subprocess.run([sys.executable, "-c", _CRASHER, str(path), step, str(acked_file),
                           str(ROOT / "tests")], cwd=ROOT, capture_output=True, timeout=300,
                          check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    acked = acked_file.read_text().split()
    removed = corpus_refs()[6].id
    assert len(acked) >= 3
    verify_folder(path)
    live = LiveIndex(path)
    expected = [r for r in corpus_refs() if r.id in acked and r.id != removed]
    assert sorted(s.id for s in live.page(0, 1000)) == sorted(r.id for r in expected)
    assert answers(MultiIndex(live.parts())) == answers(build_index(expected))
    maintainer = Maintainer(IndexFolder(path), *small_policy())
    assert maintainer.folder.maintainer_lock.acquire()
    maintainer.recover()
    maintainer.flush_all()
    while maintainer.merge():
        pass
    maintainer.folder.maintainer_lock.release()
    verify_folder(path)
    live.sync()
    assert answers(MultiIndex(live.parts())) == answers(build_index(expected))
    assert not list((path / "tmp").iterdir())
    named = {e.name for e in live.manifest.segments}
    assert {p.name for p in (path / "segments").iterdir()} == named


def corpus_refs() -> list[Reference]:
    return corpus(14)


# --- the service: restart, shutdown, two processes ------------------------------------------------

def test_tail_survives_a_restart_and_a_stop_flushes_it(tmp_path: Path) -> None:
    """What was only logged is found again after a restart (the log is replayed); a stop with
    the maintainer running writes it into a segment."""
    refs = corpus(6)
    path = tmp_path / "idx"
    LiveIndex(path).add(refs)
    again = LiveIndex(path)
    assert answers(MultiIndex(again.parts())) == answers(build_index(refs))
    maintainer = Maintainer(IndexFolder(path))
    maintainer.start()
    maintainer.stop(flush=True)
    again.sync()
    assert again.folder.wal is not None and again.folder.wal.pending() == (0, None)
    assert sum(e.docs for e in again.manifest.segments) == len(refs)
    assert answers(MultiIndex(again.parts())) == answers(build_index(refs))


def test_the_server_rewrites_a_segment_once_its_removals_are_expunge_seconds_old(
        tmp_path: Path) -> None:
    """One removal of 24 is below the share that rewrites a segment at once; with
    ``expunge_seconds`` of 1 the server's merges still take its text off the disk."""
    refs = corpus(24)[len(TEMPLATE_IDS):]
    gone = refs[4]
    settings = isolated_settings(tmp_path / "data", api_keys="k", flush_docs=1,
                                 expunge_seconds=1)
    auth = {"Authorization": "Bearer k"}
    index = tmp_path / "data" / "index"
    with TestClient(create_app(settings)) as client:
        body = {"references": [{"id": r.id, "text": r.text} for r in refs]}
        assert client.post("/v1/references/batch", json=body, headers=auth).status_code == 201
        deadline = time.monotonic() + 60
        while gone.text not in segment_texts(index):
            assert time.monotonic() < deadline, "the additions were not flushed"
            time.sleep(0.2)
        assert client.delete(f"/v1/references/{gone.id}", headers=auth).status_code == 204
        while gone.text in segment_texts(index):
            assert time.monotonic() < deadline, "the removal was not expunged"
            time.sleep(0.2)
        assert segment_texts(index) == {r.text for r in refs} - {gone.text}
        found = client.post("/v1/check", json={"text": gone.text}).json()["sources"]
        assert gone.id not in {s["id"] for s in found}


def test_two_processes_adding_and_checking_at_once(tmp_path: Path) -> None:
    """Two processes share one index folder, each adding references and checking for the other's
    additions while a third flushes and merges: each check finds what was acknowledged before
    it."""
    path = tmp_path / "idx"
    LiveIndex(path)
    script = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_storage import corpus
from app.core import CheckOptions, check_text
from app.core import index as index_module
from app.core.index import MultiIndex
from app.storage import LiveIndex
path, me = Path(sys.argv[1]), int(sys.argv[2])
refs = [r for i, r in enumerate(corpus(20)) if i % 2 == me]
live = LiveIndex(path)
misses = 0
for ref in refs:
    live.add([ref])
    live.sync()
    found = {s.id for s in check_text(ref.text, MultiIndex(live.parts())).sources}
    misses += ref.id not in found
print(json.dumps({"misses": misses, "count": live.count()}))
"""
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(me),
                               str(ROOT / "tests")], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for me in (0, 1)]
    flush, merge = small_policy()
    maintainer = Maintainer(IndexFolder(path), flush, merge, poll=0.05)
    maintainer.start()
    outs = [p.communicate(timeout=300) for p in procs]
    maintainer.stop(flush=True)
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
        assert json.loads(out)["misses"] == 0
    live = LiveIndex(path)
    assert live.count() == len(corpus(20))
    by_id = {r.id: r for r in corpus(20)}
    in_order = [by_id[s.id] for s in sorted(live.page(0, 100), key=lambda s: s.seq)]
    assert answers(MultiIndex(live.parts())) == answers(build_index(in_order))
