"""The reference index: persistence, refusal of bad files, atomic writes, adding and removing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support import CORPUS_DIR, ROOT, case_text, template

from app.core import CheckResult, ReferenceIndex, build_index, check_text, load_corpus
from app.core.corpus import Reference
from app.core.document import analyse
from app.core.errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError
from app.core.index import build_index_folder

CASES_WITH_COPIES = ("case-000.txt", "case-002.txt", "case-003.txt", "case-004.txt")


def _dump(result: CheckResult) -> dict:
    return result.model_dump(mode="json")


# -- round trip --------------------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_results(index: ReferenceIndex,
                                                      saved_index: Path) -> None:
    """A loaded index answers exactly as the index it was saved from, on real reports."""
    loaded = ReferenceIndex.load(saved_index)
    assert [r.id for r in loaded.references()] == [r.id for r in index.references()]
    assert [r.text for r in loaded.references()] == [r.text for r in index.references()]
    texts = [case_text(name) for name in CASES_WITH_COPIES] + [template("minzheng-ju")]
    for text in texts:
        before, after = check_text(text, index), check_text(text, loaded)
        assert before.copied_chars > 0
        assert _dump(after) == _dump(before)


def test_loaded_index_in_a_fresh_process_gives_the_same_json(saved_index: Path,
                                                             check: Callable[..., CheckResult],
                                                             tmp_path: Path) -> None:
    """Stable hashing: another interpreter, with another hash seed, loads and answers the same."""
    report = tmp_path / "report.txt"
    report.write_text(case_text("case-000.txt"), encoding="utf-8")
    code = ("import json, sys\n"
            "from pathlib import Path\n"
            "from app.core import ReferenceIndex, check_text\n"
            "index = ReferenceIndex.load(Path(sys.argv[1]))\n"
            "text = Path(sys.argv[2]).read_text(encoding='utf-8')\n"
            "print(json.dumps(check_text(text, index, title='r').model_dump(mode='json')))\n")
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run([sys.executable, "-c", code, str(saved_index), str(report)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    expected = _dump(check(case_text("case-000.txt"), title="r"))
    assert json.loads(done.stdout) == expected


# -- parallel build ---------------------------------------------------------------------------

def test_parallel_folder_build_answers_like_the_memory_index(index: ReferenceIndex,
                                                              tmp_path: Path) -> None:
    """`index build` with two worker processes writes an index that answers exactly as the
    index built in memory, without holding the documents in memory."""
    path = tmp_path / "built"
    count = build_index_folder(iter(load_corpus(CORPUS_DIR)), path, workers=2)
    built = ReferenceIndex.load(path)
    assert count == len(built) == len(index)
    for name in CASES_WITH_COPIES:
        text = case_text(name)
        assert _dump(check_text(text, built)) == _dump(check_text(text, index))


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


def test_folder_build_refuses_a_repeated_id(tmp_path: Path) -> None:
    refs = [Reference("same", template("minzheng-ju")), Reference("same", template("jianshe-ju"))]
    with pytest.raises(DuplicateReferenceError, match="same"):
        build_index_folder(refs, tmp_path / "idx")
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_loaded_index_grows_and_shrinks_without_a_rebuild(saved_index: Path,
                                                          tmp_path: Path) -> None:
    """References added to a loaded (on-disk) index are found at once, removed ones
    disappear, and a save keeps both changes."""
    loaded = ReferenceIndex.load(saved_index)
    extra = case_text("case-000.txt")
    loaded.add(Reference("submitted-2024", extra))
    assert check_text(extra, loaded).sources[0].id == "submitted-2024"
    loaded.remove("minzheng-ju")
    assert all(s.id != "minzheng-ju" for s in check_text(template("minzheng-ju"), loaded).sources)
    path = tmp_path / "changed"
    loaded.save(path)
    again = ReferenceIndex.load(path)
    assert sorted(again.ids()) == sorted(loaded.ids())
    assert _dump(check_text(extra, again)) == _dump(check_text(extra, loaded))
    for doc_id in again.ids():  # copied, added and after a removed slot: each text is its own
        slot = again.by_id[doc_id]
        assert again.chars(slot) == analyse(again.get(doc_id).text).norm.chars
        assert again.doc(slot).norm.chars == again.chars(slot)


# -- atomic writes -----------------------------------------------------------------------------

def _entries(path: Path) -> list[str]:
    return sorted("v-*" if p.name.startswith("v-") else p.name for p in path.iterdir())


def test_save_leaves_one_version_and_no_temp(index: ReferenceIndex, tmp_path: Path) -> None:
    """After a first write and an overwrite the folder holds CURRENT and one version."""
    path = tmp_path / "refs.idx"
    index.save(path)
    index.save(path)
    assert _entries(path) == ["CURRENT", "v-*"]
    assert len(ReferenceIndex.load(path)) == len(index)


def test_failed_save_keeps_the_old_index(index: ReferenceIndex, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous index in use and no half-written version."""
    small = build_index([Reference("only", template("minzheng-ju"))])
    path = tmp_path / "refs.idx"
    small.save(path)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    monkeypatch.undo()
    assert _entries(path) == ["CURRENT", "v-*"]
    assert ReferenceIndex.load(path).ids() == ["only"]


# -- bad files ---------------------------------------------------------------------------------

def _version(path: Path) -> Path:
    return path / (path / "CURRENT").read_text().strip()


def _edit_header(path: Path, **changes: object) -> None:
    file = _version(path) / "header.json"
    file.write_text(json.dumps({**json.loads(file.read_text()), **changes}))


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _save_array(file: Path, values: np.ndarray) -> None:
    np.save(file, values)


CORRUPTIONS: list = [
    pytest.param(lambda p: shutil.rmtree(p) or p.mkdir(), id="empty-folder"),
    pytest.param(lambda p: shutil.rmtree(p) or p.write_text("not an index\n"), id="a-text-file"),
    pytest.param(lambda p: (p / "CURRENT").write_text("v-missing"), id="current-names-nothing"),
    pytest.param(lambda p: (p / "CURRENT").write_text("../../etc"), id="current-escapes"),
    pytest.param(lambda p: (_version(p) / "header.json").write_text("{nope"), id="header-not-json"),
    pytest.param(lambda p: (_version(p) / "header.json").write_text("[1, 2]"),
                 id="header-not-an-object"),
    pytest.param(lambda p: _edit_header(p, version=99), id="wrong-version"),
    pytest.param(lambda p: _edit_header(p, format="x"), id="wrong-format"),
    pytest.param(lambda p: _edit_header(p, num_perm=64), id="other-fingerprint-parameters"),
    pytest.param(lambda p: _edit_header(p, files=None), id="header-incomplete"),
    pytest.param(lambda p: (_version(p) / "band_table.npy").unlink(), id="missing-table"),
    pytest.param(lambda p: (_version(p) / "seed_fence.npy").unlink(), id="missing-fence"),
    pytest.param(lambda p: (_version(p) / "band_filter.npy").unlink(), id="missing-filter"),
    pytest.param(lambda p: _save_array(_version(p) / "seed_filter.npy", np.zeros(3, np.int64)),
                 id="filter-not-bytes"),
    pytest.param(lambda p: _truncate(_version(p) / "seed_table.npy"), id="truncated-table"),
    pytest.param(lambda p: _save_array(_version(p) / "band_table.npy", np.zeros(4, np.uint64)),
                 id="table-of-plain-keys"),
    pytest.param(lambda p: _save_array(_version(p) / "band_fence.npy", np.zeros(1, np.uint64)),
                 id="fence-of-another-length"),
    pytest.param(lambda p: _save_array(_version(p) / "unit_doc.npy", np.zeros(3)),
                 id="array-of-another-type"),
    pytest.param(lambda p: _save_array(_version(p) / "unit_end.npy", np.zeros(1, np.uint32)),
                 id="arrays-of-different-lengths"),
    pytest.param(lambda p: (_version(p) / "docs.sqlite3").write_bytes(b"garbage" * 500),
                 id="documents-not-a-database"),
    pytest.param(lambda p: _truncate(_version(p) / "norms.bin"), id="truncated-texts"),
    pytest.param(lambda p: (_version(p) / "norm_starts.npy").unlink(), id="missing-text-starts"),
    pytest.param(lambda p: _save_array(_version(p) / "norm_starts.npy", np.zeros(2, "<i8")),
                 id="text-starts-of-another-length"),
    pytest.param(lambda p: _save_array(_version(p) / "band_fence.npy",
                                       np.array(["x"], dtype=object)), id="pickled-array"),
]


def _load_error(path: Path) -> tuple[type | None, str]:
    """(type, message) of what load raises; the exception itself is dropped here, so a file
    handle it keeps alive is released (and reported) within the test."""
    try:
        ReferenceIndex.load(path)
    except Exception as exc:  # the test asserts on the type
        return type(exc), f"{type(exc).__name__}: {exc}"
    return None, "loaded without error"


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
@pytest.mark.usefixtures("collect_garbage")
def test_bad_index_raises_index_format_error(corrupt: Callable[[Path], object],
                                             saved_index: Path, tmp_path: Path) -> None:
    """Whatever is wrong with the folder, load raises IndexFormatError, which says to rebuild
    it (the CLI turns it into exit code 2, anything else into a traceback)."""
    path = tmp_path / "bad.idx"
    shutil.copytree(saved_index, path)
    corrupt(path)
    error = _load_error(path)
    assert error[0] is IndexFormatError, error
    assert "bad.idx" in error[1]


@pytest.mark.usefixtures("collect_garbage")
def test_flipped_byte_is_caught_by_verify(saved_index: Path, tmp_path: Path) -> None:
    """Loading checks sizes and shapes only (a big index opens in seconds); verify compares
    every file with the checksum recorded when it was written."""
    path = tmp_path / "flipped.idx"
    shutil.copytree(saved_index, path)
    ReferenceIndex.verify(path)
    file = _version(path) / "band_table.npy"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match=re.escape("band_table.npy is damaged")):
        ReferenceIndex.verify(path)


@pytest.mark.usefixtures("collect_garbage")
def test_missing_index_file(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match=re.escape("missing.idx")):
        ReferenceIndex.load(tmp_path / "missing.idx")


# -- adding, replacing, removing ---------------------------------------------------------------

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


def test_removed_reference_is_no_longer_reported(two_templates: ReferenceIndex,
                                                 tmp_path: Path) -> None:
    """After remove, a copy of that template is no longer found, also after save and load."""
    copy = template("minzheng-ju")
    assert check_text(copy, two_templates).copy_ratio > 0.9
    two_templates.remove("minzheng-ju")
    assert "minzheng-ju" not in two_templates and len(two_templates) == 1
    after = check_text(copy, two_templates)
    assert all(s.id != "minzheng-ju" for s in after.sources)
    path = tmp_path / "removed.idx"
    two_templates.save(path)
    loaded = ReferenceIndex.load(path)
    assert _dump(check_text(copy, loaded)) == _dump(after)
    # the id can be used again
    loaded.add(Reference("minzheng-ju", copy))
    assert check_text(copy, loaded).sources[0].id == "minzheng-ju"


def test_replace_swaps_the_text(two_templates: ReferenceIndex) -> None:
    """add(replace=True) makes the new text the one that is found under that id."""
    two_templates.add(Reference("minzheng-ju", template("jianshe-ju")), replace=True)
    assert check_text(template("jianshe-ju"), two_templates).sources[0].id == "minzheng-ju"
    assert check_text(template("minzheng-ju"), two_templates).copy_ratio < 0.3
