"""The reference index: persistence, refusal of bad files, atomic writes, adding and removing."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import CORPUS_DIR, ROOT, case_text, template

from app.core import CheckResult, ReferenceIndex, build_index, check_text, load_corpus
from app.core.corpus import Reference
from app.core.errors import DuplicateReferenceError, IndexFormatError, ReferenceNotFoundError

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


# -- atomic writes -----------------------------------------------------------------------------

def test_save_leaves_only_the_index_file(index: ReferenceIndex, tmp_path: Path) -> None:
    """No temporary file is left beside the index after a save (first write and overwrite)."""
    path = tmp_path / "refs.idx"
    index.save(path)
    index.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refs.idx"]
    assert len(ReferenceIndex.load(path)) == len(index)


def test_failed_save_keeps_the_old_file_and_no_temp(index: ReferenceIndex, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the previous index intact and no half-written file."""
    small = build_index([Reference("only", template("minzheng-ju"))])
    path = tmp_path / "refs.idx"
    small.save(path)
    old = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["refs.idx"]


# -- bad files ---------------------------------------------------------------------------------

def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _npz(arrays: dict[str, np.ndarray], header: object | None = None,
         drop: str | None = None) -> bytes:
    members: dict[str, Any] = dict(arrays)
    if header is not None:
        members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    if drop is not None:
        del members[drop]
    out = io.BytesIO()
    np.savez(out, **members)
    return out.getvalue()


def _header(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(bytes(arrays["header"]).decode())


def _flip_middle_byte(data: bytes) -> bytes:
    """Flip a byte in the middle of the largest array's compressed data (a byte of zip metadata
    such as a timestamp may change harmlessly, so the damage is put where it matters)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        member = max(archive.infolist(), key=lambda i: i.compress_size)
    header = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    out = bytearray(data)
    out[header + member.compress_size // 2] ^= 0xFF
    return bytes(out)


def _bare_npy(_: bytes) -> bytes:
    out = io.BytesIO()
    np.save(out, np.arange(10))
    return out.getvalue()


CORRUPTIONS: list = [
    pytest.param(lambda data, arrays: b"", id="empty-file"),
    pytest.param(lambda data, arrays: b"this is not an index\n" * 20, id="text-file"),
    pytest.param(lambda data, arrays: data[: len(data) // 2], id="truncated"),
    pytest.param(lambda data, arrays: _flip_middle_byte(data), id="flipped-byte"),
    pytest.param(lambda data, arrays: _bare_npy(data), id="bare-npy-array"),
    pytest.param(lambda data, arrays: _npz(arrays, drop="header"), id="no-header"),
    pytest.param(lambda data, arrays: _npz(arrays, drop="band_keys"), id="missing-array"),
    pytest.param(lambda data, arrays: _npz(arrays, header=["not", "an", "object"]),
                 id="header-not-an-object"),
    pytest.param(lambda data, arrays: _npz(arrays, header={**_header(arrays), "version": 99}),
                 id="wrong-version"),
    pytest.param(lambda data, arrays: _npz(arrays, header={**_header(arrays), "format": "x"}),
                 id="wrong-format"),
    pytest.param(lambda data, arrays: _npz(arrays, header={**_header(arrays), "num_perm": 64}),
                 id="other-fingerprint-parameters"),
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
def test_bad_index_file_raises_index_format_error(corrupt: Callable[[bytes, dict], bytes],
                                                  saved_index: Path, tmp_path: Path) -> None:
    """Whatever is wrong with the file, load raises IndexFormatError, which says to rebuild it
    (the CLI turns it into exit code 2, anything else into a traceback)."""
    data = saved_index.read_bytes()
    path = tmp_path / "bad.idx"
    path.write_bytes(corrupt(data, _arrays(saved_index)))
    error = _load_error(path)
    assert error[0] is IndexFormatError, error
    assert "bad.idx" in error[1]


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
