"""Corpus folders: the files and ``corpus.json`` of a folder read as references."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.corpus import (
    CorpusFiles,
    Reference,
    corpus_files,
    iter_corpus,
    load_corpus,
)
from app.core.errors import CorpusError

ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
entries = st.fixed_dictionaries(
    {"title": st.text(max_size=20)},
    optional={"source": st.none() | st.text(max_size=10),
              "tags": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)})


@settings(max_examples=80, deadline=None)
@given(meta=st.dictionaries(ids, entries, max_size=8),
       indent=st.sampled_from([None, 0, 1, 4, "\t"]),
       separators=st.sampled_from([None, (",", ":"), (" , ", " : ")]),
       ascii_only=st.booleans(), bom=st.booleans())
def test_metadata_read_member_by_member_gives_what_json_loads_gives(
        tmp_path_factory: pytest.TempPathFactory, meta: dict[str, dict], indent: int | str | None,
        separators: tuple[str, str] | None, ascii_only: bool, bom: bool) -> None:
    """Any layout of ``corpus.json`` (indents, spacing, escapes, a byte order mark as Notepad
    writes it): each reference gets the title, source and tags ``json.loads`` reads there."""
    folder = tmp_path_factory.mktemp("corpus")
    names = {}
    for n, doc_id in enumerate(meta):
        names[doc_id] = f"doc{n}"
        (folder / f"doc{n}.txt").write_text(f"正文第{n}篇。", encoding="utf-8")
    renamed = {names[k]: v for k, v in meta.items()}
    text = json.dumps(renamed, indent=indent, separators=separators, ensure_ascii=ascii_only)
    (folder / "corpus.json").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    got = {r.id: r for r in iter_corpus(folder, corpus_files(folder))}
    expected = json.loads(text)
    assert set(got) == set(expected)
    for doc_id, entry in expected.items():
        assert got[doc_id].title == (entry["title"] or f"正文第{doc_id[3:]}篇。")
        assert got[doc_id].source == entry.get("source")
        assert got[doc_id].tags == entry.get("tags", {})


def test_a_member_given_twice_counts_once_the_last_time(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("甲", encoding="utf-8")
    (tmp_path / "corpus.json").write_text(
        '{"a": {"title": "first"}, "b": {}, "a": {"title": "second", "tags": {"k": "v"}}}',
        encoding="utf-8")
    [ref] = load_corpus(tmp_path)
    assert (ref.title, ref.tags) == ("second", {"k": "v"})


@pytest.mark.parametrize(("text", "message"), [
    ('["a", "b"]', "must map document ids"),
    ('"a"', "must map document ids"),
    ("", "must map document ids"),
    ('{"a": "a title"}', "the entry of 'a' must be an object"),
    ('{"a": {"title": "x"},}', "not valid UTF-8 JSON"),
    ('{"a" {"title": "x"}}', "not valid UTF-8 JSON"),
    ('{"a": {"title": "x"}} {}', "not valid UTF-8 JSON"),
    ('{"a": {"title": "x"}', "not valid UTF-8 JSON"),
    ('{a: {"title": "x"}}', "not valid UTF-8 JSON"),
    ('{"a": {"title": x}}', "not valid UTF-8 JSON"),
])
def test_a_metadata_file_that_is_no_map_of_objects_is_refused_by_name(
        tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "a.txt").write_text("甲", encoding="utf-8")
    (tmp_path / "corpus.json").write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=message) as caught:
        load_corpus(tmp_path)
    assert "corpus.json" in str(caught.value)


def test_two_files_of_one_id_are_refused_before_any_file_is_read(tmp_path: Path) -> None:
    """``a.txt`` and ``a.docx`` would both be reference ``a``: the folder is refused at once,
    naming both, even when one of them could not be read at all."""
    (tmp_path / "a.txt").write_text("甲", encoding="utf-8")
    (tmp_path / "a.docx").write_bytes(b"not a zip")
    (tmp_path / "a.b.txt").write_text("乙", encoding="utf-8")  # id 'a.b', sorted between them
    with pytest.raises(CorpusError, match=r"the id 'a' is also used by a\.(docx|txt)"):
        corpus_files(tmp_path)


def test_the_files_of_a_folder_are_its_references_in_name_order(tmp_path: Path) -> None:
    for name in ("b.txt", "a.md", "c.TXT", "notes.json", "image.png", "z.txt"):
        (tmp_path / name).write_text("文", encoding="utf-8")
    (tmp_path / "sub.txt").mkdir()  # a folder, whatever its name
    files = corpus_files(tmp_path)
    assert [p.name for p in files] == ["a.md", "b.txt", "c.TXT", "z.txt"]
    assert len(files) == 4 and files[1] == tmp_path / "b.txt"
    assert files[1:3] == [tmp_path / "b.txt", tmp_path / "c.TXT"]


# names as a folder may hold them: any text, and any bytes as Python decodes a file name
names = (st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=6)
         | st.binary(min_size=1, max_size=8).map(os.fsdecode))


@settings(max_examples=60, deadline=None)
@given(listed=st.lists(names, max_size=12, unique_by=lambda n: os.path.splitext(n)[0]),
       at=st.integers(-15, 15), cut=st.slices(15))
def test_the_file_list_reads_like_the_sorted_list_of_its_names(listed: list[str], at: int,
                                                                cut: slice) -> None:
    """The names wait on disk, yet read as the list of their files in the order of their
    names' bytes (for UTF-8 names, of their characters)."""
    files = CorpusFiles(Path("corpus"), iter(listed))
    expected = [Path("corpus") / name for name in sorted(listed, key=os.fsencode)]
    assert len(files) == len(listed) and list(files) == expected
    assert files[cut] == expected[cut]
    if -len(listed) <= at < len(listed):
        assert files[at] == expected[at]
    else:
        with pytest.raises(IndexError):
            files[at]


def reading_the_first_of_two(folder: Path) -> tuple[Path, Iterator[Reference]]:
    """A folder of references a and b with their titles in ``corpus.json``, read up to a."""
    for name in ("a", "b"):
        (folder / f"{name}.txt").write_text("甲", encoding="utf-8")
    meta = folder / "corpus.json"
    meta.write_text(json.dumps({"a": {"title": "甲篇"}, "b": {"title": "乙篇"}},
                               ensure_ascii=False), encoding="utf-8")
    refs = iter_corpus(folder, corpus_files(folder))
    assert next(refs).title == "甲篇"
    return meta, refs


def test_a_metadata_file_cut_short_while_the_corpus_is_read_is_refused(tmp_path: Path) -> None:
    """Entries are read from the file as their references come: a file rewritten in place
    meanwhile is refused, not mixed into the index."""
    meta, refs = reading_the_first_of_two(tmp_path)
    with meta.open("r+b") as out:
        out.truncate(20)
    with pytest.raises(CorpusError, match="changed while the corpus was read"):
        next(refs)


def test_a_metadata_file_replaced_while_the_corpus_is_read_is_read_as_it_was(
        tmp_path: Path) -> None:
    """An editor saving ``corpus.json`` anew mid-build writes another file: the references still
    get the entries of the file the build started with."""
    meta, refs = reading_the_first_of_two(tmp_path)
    (tmp_path / "new.json").write_text(json.dumps({"b": {"title": "改过的标题，长得多"}},
                                                  ensure_ascii=False), encoding="utf-8")
    (tmp_path / "new.json").replace(meta)
    assert next(refs).title == "乙篇"
