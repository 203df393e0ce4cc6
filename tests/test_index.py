"""The reference index: saved index folders (build, open, refusal of bad files, atomic
replacement, verify), and adding and removing in memory."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import CORPUS_DIR, ROOT, case_text, template

from app.core import CheckResult, ReferenceIndex, build_index, check_text, load_corpus
from app.core import index as index_module
from app.core.corpus import Reference
from app.core.errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError
from app.core.index import MultiIndex, Prepared
from app.core.lsh import rank_votes
from app.storage import LiveIndex, MergePolicy, build_index_folder, verify_folder

CASES_WITH_COPIES = ("case-000.txt", "case-002.txt", "case-003.txt", "case-004.txt")


def _dump(result: CheckResult) -> dict:
    return result.model_dump(mode="json")


def opened(path: Path) -> MultiIndex:
    return MultiIndex(LiveIndex(path, slot_base=0, readonly=True).parts())


# -- a saved index answers as the index in memory ---------------------------------------------

def test_saved_index_gives_identical_results(index: ReferenceIndex, saved_index: Path) -> None:
    """A saved index answers exactly as the index it was built from, on real reports."""
    loaded = opened(saved_index)
    assert len(loaded) == len(index)
    for ref in index.references():
        assert loaded.get(ref.id) == ref
    texts = [case_text(name) for name in CASES_WITH_COPIES] + [template("minzheng-ju")]
    for text in texts:
        before, after = check_text(text, index), check_text(text, loaded)
        assert before.copied_chars > 0
        assert _dump(after) == _dump(before)


def test_saved_index_in_a_fresh_process_gives_the_same_json(saved_index: Path,
                                                            check: Callable[..., CheckResult],
                                                            tmp_path: Path) -> None:
    """Stable hashing: another interpreter, with another hash seed, opens and answers the same."""
    report = tmp_path / "report.txt"
    report.write_text(case_text("case-000.txt"), encoding="utf-8")
    code = ("import json, sys\n"
            "from pathlib import Path\n"
            "from app.core import check_text\n"
            "from app.core.index import MultiIndex\n"
            "from app.storage import LiveIndex\n"
            "index = MultiIndex(LiveIndex(Path(sys.argv[1]), slot_base=0, readonly=True)"
            ".parts())\n"
            "text = Path(sys.argv[2]).read_text(encoding='utf-8')\n"
            "print(json.dumps(check_text(text, index, title='r').model_dump(mode='json')))\n")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, "-c", code, str(saved_index), str(report)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    expected = _dump(check(case_text("case-000.txt"), title="r"))
    assert json.loads(done.stdout) == expected


def test_parallel_build_in_small_segments_answers_like_the_memory_index(
        index: ReferenceIndex, tmp_path: Path) -> None:
    """`index build` with two worker processes, writing a segment every two references, gives an
    index that answers exactly as the index built in memory."""
    path = tmp_path / "built"
    count = build_index_folder(iter(load_corpus(CORPUS_DIR)), path, workers=2, segment_docs=2)
    built = LiveIndex(path, slot_base=0, readonly=True)
    assert count == len(built) == len(index) == built.count()
    assert len(built.manifest.segments) == 3
    for name in CASES_WITH_COPIES:
        text = case_text(name)
        assert _dump(check_text(text, MultiIndex(built.parts()))) == _dump(check_text(text, index))


def test_a_build_ends_merged_as_a_quiet_index_is(tmp_path: Path) -> None:
    """Nothing changes a built index until it is served: the build merges its segments as the
    policy merges a quiet index, at its end rather than ``quiet_seconds`` later (and not at all
    with quiet merges off)."""
    refs = load_corpus(CORPUS_DIR)
    for quiet_seconds, segments in ((300.0, 2), (0.0, 3)):
        path = tmp_path / f"built-{quiet_seconds}"
        build_index_folder(refs, path, segment_docs=2, policy=MergePolicy(
            floor_docs=1000, factor=50, quiet_seconds=quiet_seconds, quiet_share=1.0))
        built = LiveIndex(path, slot_base=0, readonly=True)
        assert len(built.manifest.segments) == segments
        assert built.count() == len(refs)


def _worker_handlers(_: int) -> tuple[object, object]:
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_build_workers_do_not_inherit_the_callers_signal_handlers() -> None:
    """A caller that exits on SIGTERM (a server, a benchmark) must not pass that handler to the
    build's workers: the pool terminates them with SIGTERM, and a worker running exit hooks
    instead of dying hung the build."""
    import multiprocessing

    from app.core.index import _plain_signals

    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with multiprocessing.get_context("fork").Pool(1, _plain_signals) as pool:
            assert pool.map(_worker_handlers, [0]) == [(signal.SIG_DFL, signal.SIG_IGN)]
    finally:
        signal.signal(signal.SIGTERM, previous)


def _id_of(item: Prepared) -> str:
    return item.ref.id


def test_parallel_preparing_keeps_order_and_waits_for_a_slow_caller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers run at most AHEAD references ahead of what the caller has taken (a build busy
    writing a segment must not pile up prepared references without end), in order, and a
    caller that stops early is not left waiting on the pool."""
    monkeypatch.setattr(index_module, "AHEAD", 3)
    handed = 0

    def refs() -> Iterator[Reference]:
        nonlocal handed
        for k in range(200):
            handed += 1
            yield Reference(f"r{k}", "全面从严治党，推进高质量发展。" * 3)

    got = index_module.prepared(refs(), 37, 3, workers=2, finish=_id_of)
    assert [next(got) for _ in range(5)] == [f"r{k}" for k in range(5)]
    time.sleep(0.5)  # time enough to prepare all 200 if nothing held the workers back
    assert handed <= 5 + 3 + 1  # taken, ahead, and the one waiting for room
    assert list(got) == [f"r{k}" for k in range(5, 200)]
    stopped = index_module.prepared(refs(), 37, 3, workers=2, finish=_id_of)
    assert next(stopped) == "r0"
    closing = threading.Thread(target=stopped.close, daemon=True)
    closing.start()
    closing.join(30)
    assert not closing.is_alive(), "closing a half-read preparation hangs"


def test_build_refuses_a_repeated_id_and_leaves_nothing(tmp_path: Path) -> None:
    refs = [Reference("same", template("minzheng-ju")), Reference("same", template("jianshe-ju"))]
    with pytest.raises(DuplicateReferenceError, match="same"):
        build_index_folder(refs, tmp_path / "idx")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- atomic replacement ------------------------------------------------------------------------

def test_build_replaces_an_index_and_leaves_no_temp(tmp_path: Path) -> None:
    """Building over an index replaces it; the folder holds the index files and nothing else."""
    path = tmp_path / "refs.idx"
    build_index_folder([Reference("only", template("minzheng-ju"))], path)
    build_index_folder(load_corpus(CORPUS_DIR), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refs.idx"]
    assert LiveIndex(path, readonly=True).count() == 5
    manifests = sorted(p.name for p in path.glob("manifest-*.json"))
    assert manifests == [(path / "CURRENT").read_text()]
    assert not list((path / "tmp").iterdir())


def test_failed_build_keeps_the_old_index(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous index in use and no half-written folder."""
    path = tmp_path / "refs.idx"
    build_index_folder([Reference("only", template("minzheng-ju"))], path)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        build_index_folder(load_corpus(CORPUS_DIR), path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refs.idx"]
    assert [s.id for s in LiveIndex(path, readonly=True).page(0, 10)] == ["only"]


def test_build_refuses_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="not an index folder"):
        build_index_folder(load_corpus(CORPUS_DIR), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep me"


# -- bad files ---------------------------------------------------------------------------------

def _segment(path: Path) -> Path:
    return next((path / "segments").iterdir())


def _manifest(path: Path) -> Path:
    return path / (path / "CURRENT").read_text().strip()


def _edit(file: Path, **changes: object) -> None:
    file.write_text(json.dumps({**json.loads(file.read_text()), **changes}))


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


CORRUPTIONS: list = [
    pytest.param(lambda p: shutil.rmtree(p) or p.mkdir(), id="empty-folder"),
    pytest.param(lambda p: shutil.rmtree(p) or p.write_text("not an index\n"), id="a-text-file"),
    pytest.param(lambda p: (p / "CURRENT").write_text("manifest-000000000099.json"),
                 id="current-names-nothing"),
    pytest.param(lambda p: (p / "CURRENT").write_text("../../etc/passwd"), id="current-escapes"),
    pytest.param(lambda p: _manifest(p).write_text("{nope"), id="manifest-not-json"),
    pytest.param(lambda p: _manifest(p).write_text("[1, 2]"), id="manifest-not-an-object"),
    pytest.param(lambda p: _edit(_manifest(p), version=99), id="wrong-version"),
    pytest.param(lambda p: _edit(_manifest(p), num_perm=64), id="other-fingerprint-parameters"),
    pytest.param(lambda p: _edit(_manifest(p), segments=None), id="manifest-incomplete"),
    pytest.param(lambda p: _edit(_manifest(p), segments=[{"name": "s-gone", "docs": 1,
                                                          "units": 1}]),
                 id="segment-missing"),
    pytest.param(lambda p: _edit(_segment(p) / "header.json", version=5), id="old-segment"),
    pytest.param(lambda p: (_segment(p) / "band.run").unlink(), id="missing-table"),
    pytest.param(lambda p: (_segment(p) / "seed.fence.npy").unlink(), id="missing-fence"),
    pytest.param(lambda p: (_segment(p) / "band.filter.npy").unlink(), id="missing-filter"),
    pytest.param(lambda p: np.save(_segment(p) / "seed.filter.npy", np.zeros(3, np.int64)),
                 id="filter-not-bytes"),
    pytest.param(lambda p: _truncate(_segment(p) / "seed.run"), id="truncated-table"),
    pytest.param(lambda p: np.save(_segment(p) / "band.fence.npy", np.zeros(1, np.uint64)),
                 id="fence-of-another-length"),
    pytest.param(lambda p: np.save(_segment(p) / "band.pages.npy", np.zeros(1, np.uint64)),
                 id="page-table-of-another-type"),
    pytest.param(lambda p: np.save(_segment(p) / "unit_end.npy", np.zeros(1, np.uint32)),
                 id="arrays-of-different-lengths"),
    pytest.param(lambda p: (_segment(p) / "docs.sqlite3").write_bytes(b"garbage" * 500),
                 id="documents-not-a-database"),
    pytest.param(lambda p: _truncate(_segment(p) / "chars.bin"), id="truncated-texts"),
    pytest.param(lambda p: np.save(_segment(p) / "seq.npy", np.zeros(2, "<i8")),
                 id="sequence-of-another-length"),
    pytest.param(lambda p: np.save(_segment(p) / "band.fence.npy",
                                   np.array(["x"], dtype=object), allow_pickle=True),
                 id="pickled-array"),
]


def _open_error(path: Path) -> tuple[type | None, str]:
    """(type, message) of what opening (and a check) raises; the exception itself is dropped
    here, so a file handle it keeps alive is released (and reported) within the test."""
    try:
        check_text(case_text("case-000.txt"), opened(path))
    except Exception as exc:  # the test asserts on the type
        return type(exc), f"{type(exc).__name__}: {exc}"
    return None, "opened without error"


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
@pytest.mark.usefixtures("collect_garbage")
def test_bad_index_raises_index_format_error(corrupt: Callable[[Path], object],
                                             saved_index: Path, tmp_path: Path) -> None:
    """Whatever is wrong with the folder, opening raises IndexFormatError, which says to
    rebuild it (the CLI turns it into exit code 2, anything else into a traceback)."""
    path = tmp_path / "bad.idx"
    shutil.copytree(saved_index, path)
    corrupt(path)
    error = _open_error(path)
    assert error[0] is IndexFormatError, error
    assert "bad.idx" in error[1]


@pytest.mark.usefixtures("collect_garbage")
def test_flipped_byte_is_caught_by_verify(saved_index: Path, tmp_path: Path) -> None:
    """Opening checks sizes and shapes only (a big index opens in seconds); verify compares
    every file with the checksum recorded when it was written."""
    path = tmp_path / "flipped.idx"
    shutil.copytree(saved_index, path)
    assert verify_folder(path) == {"segments": 1, "documents": 5, "pending": 0}
    file = _segment(path) / "band.run"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match=re.escape("band.run is damaged")):
        verify_folder(path)


@pytest.mark.usefixtures("collect_garbage")
def test_missing_index_folder(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match=re.escape("missing.idx")):
        LiveIndex(tmp_path / "missing.idx", readonly=True)


# -- adding, replacing, removing in memory -----------------------------------------------------

@pytest.fixture
def two_templates() -> ReferenceIndex:
    """A small index of its own, so tests may change it."""
    refs = {r.id: r for r in load_corpus(CORPUS_DIR)}
    return build_index([refs["jiguan-gongwei"], refs["minzheng-ju"]])


def test_duplicate_id_is_refused(two_templates: ReferenceIndex) -> None:
    with pytest.raises(DuplicateReferenceError, match="jiguan-gongwei"):
        two_templates.add(Reference("jiguan-gongwei", "另一份文本。"))


def test_unknown_id(two_templates: ReferenceIndex) -> None:
    with pytest.raises(ReferenceNotFoundError, match="nope"):
        two_templates.get("nope")
    with pytest.raises(ReferenceNotFoundError, match="nope"):
        two_templates.remove("nope")


def test_removed_reference_is_no_longer_reported(two_templates: ReferenceIndex) -> None:
    """After remove, a copy of that template is no longer found; the id can be used again."""
    copy = template("minzheng-ju")
    assert check_text(copy, two_templates).copy_ratio > 0.9
    two_templates.remove("minzheng-ju")
    assert "minzheng-ju" not in two_templates and len(two_templates) == 1
    after = check_text(copy, two_templates)
    assert all(s.id != "minzheng-ju" for s in after.sources)
    two_templates.add(Reference("minzheng-ju", copy))
    assert check_text(copy, two_templates).sources[0].id == "minzheng-ju"


def test_replace_swaps_the_text(two_templates: ReferenceIndex) -> None:
    """add(replace=True) makes the new text the one that is found under that id."""
    two_templates.add(Reference("minzheng-ju", template("jianshe-ju")), replace=True)
    assert check_text(template("jianshe-ju"), two_templates).sources[0].id == "minzheng-ju"
    assert check_text(template("minzheng-ju"), two_templates).copy_ratio < 0.3


def test_many_additions_keep_few_runs_and_answer_like_one_build() -> None:
    """Additions one at a time (as a server's tail takes them) are merged into a logarithmic
    number of runs, and answer exactly as the same references indexed at once."""
    refs = load_corpus(CORPUS_DIR) + [Reference(f"case-{i}", case_text(f"case-{i:03d}.txt"))
                                       for i in range(20)]
    grown = ReferenceIndex()
    for ref in refs:
        grown.add(ref)
    assert len(grown._band_table.runs) <= 5
    at_once = build_index(refs)
    for name in CASES_WITH_COPIES:
        text = case_text(name)
        assert _dump(check_text(text, grown)) == _dump(check_text(text, at_once))


@settings(max_examples=200, deadline=None)
@given(postings=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 12)), max_size=300),
       limit=st.integers(1, 8), n_queries=st.integers(6, 9))
def test_band_votes_rank_units_as_counted_one_by_one(postings: list[tuple[int, int]],
                                                     limit: int, n_queries: int) -> None:
    """Per query, the units sharing most bands first, ties to the lower unit, at most
    ``limit``: the same as counting each posting by hand (single votes included only where
    stronger units leave room)."""
    query = np.array([q for q, _ in postings], np.int64)
    unit = np.array([u for _, u in postings], np.int64)
    got = rank_votes(query, unit, n_queries, 20, limit)
    assert len(got) == n_queries
    for q, (units, votes) in enumerate(got):
        counted: dict[int, int] = {}
        for pq, pu in postings:
            if pq == q:
                counted[pu] = counted.get(pu, 0) + 1
        expected = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]
        assert list(zip(units.tolist(), votes.tolist(), strict=True)) == expected
