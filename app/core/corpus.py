"""Reference documents and corpus folders.

A corpus folder holds one reference per file (any document type the readers take but images);
the
document id is the file name without its extension. An optional ``corpus.json`` beside the files
gives titles, sources and tags: ``{"id": {"title": ..., "source": ..., "tags": {...}}}``.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, overload

from .errors import ChachongError, CorpusError
from .readers import REFERENCE_SUFFIXES, read_document

METADATA_FILE = "corpus.json"


@dataclass(frozen=True)
class Reference:
    id: str
    text: str
    title: str = ""
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def display_title(self) -> str:
        return self.title or default_title(self.text, self.id)


def default_title(text: str, fallback: str) -> str:
    """The first non-empty line, as writers put the title first."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:80]
    return fallback


def bundled_corpus_dir() -> Path:
    """The template reports shipped inside the package (``reference_corpus``)."""
    return Path(str(resources.files("reference_corpus")))


def load_corpus(folder: Path) -> list[Reference]:
    """Every supported file of ``folder`` (not recursive), sorted by id."""
    refs = list(iter_corpus(folder, corpus_files(folder)))
    if not refs:
        raise CorpusError(f"{folder}: no reference files found ({', '.join(REFERENCE_SUFFIXES)})")
    return refs


def _scratch() -> sqlite3.Connection:
    """A private SQLite database in a temporary file, gone when it is closed: what reading a
    corpus of any size must keep until its last reference is read, held on disk (SQLite caches
    2 MB of it) so that a build's memory does not grow with the corpus."""
    return sqlite3.connect("", check_same_thread=False)  # a build reads on its feeding thread


class CorpusFiles(Sequence[Path]):
    """The reference files of a corpus folder, sorted by name. The names wait in a scratch
    database: held as a list, the 300,000 names of a corpus took 21 MB through a whole build
    (bench/corpus_memory.py)."""

    def __init__(self, folder: Path, names: Iterable[str]) -> None:
        self.folder = folder
        self._db = _scratch()
        with self._db:
            self._db.execute("CREATE TABLE listed (name BLOB NOT NULL, id BLOB NOT NULL)")
            self._db.executemany("INSERT INTO listed VALUES (?, ?)",
                                 ((os.fsencode(n), os.fsencode(os.path.splitext(n)[0]))
                                  for n in names))
            self._refuse_shared_ids()
            # a file's rowid is one more than its place in name order
            self._db.execute("CREATE TABLE files (name BLOB NOT NULL)")
            self._db.execute("INSERT INTO files SELECT name FROM listed ORDER BY name")
            self._db.execute("DROP TABLE listed")
        self._count: int = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def _refuse_shared_ids(self) -> None:
        """Two files of one id (``a.txt`` and ``a.docx``) are refused, naming both."""
        shared = self._db.execute("SELECT id FROM listed GROUP BY id HAVING COUNT(*) > 1 "
                                  "ORDER BY id LIMIT 1").fetchone()
        if shared is not None:
            first, second = (os.fsdecode(row[0]) for row in self._db.execute(
                "SELECT name FROM listed WHERE id = ? ORDER BY name LIMIT 2", shared))
            raise CorpusError(f"{self.folder / second}: the id '{os.fsdecode(shared[0])}' is "
                              f"also used by {first}; rename one of them")

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Path: ...
    @overload
    def __getitem__(self, i: slice) -> list[Path]: ...

    def __getitem__(self, i: int | slice) -> Path | list[Path]:
        if isinstance(i, slice):
            places = range(*i.indices(len(self)))
            if places.step != 1:
                return [self[k] for k in places]
            return [self.folder / os.fsdecode(name) for (name,) in self._db.execute(
                "SELECT name FROM files WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                (places.start, places.stop))]  # rowid = place + 1
        if not -len(self) <= i < len(self):
            raise IndexError("index out of range")
        row = self._db.execute("SELECT name FROM files WHERE rowid = ?",
                               (i % len(self) + 1,)).fetchone()
        return self.folder / os.fsdecode(row[0])

    def __iter__(self) -> Iterator[Path]:
        for (name,) in self._db.execute("SELECT name FROM files ORDER BY rowid"):
            yield self.folder / os.fsdecode(name)


def corpus_files(folder: Path) -> CorpusFiles:
    """The reference files of a corpus folder, sorted; two files of one id (``a.txt`` and
    ``a.docx``) are refused here, before any is read."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: the corpus must be a folder of reference files "
                          f"({', '.join(REFERENCE_SUFFIXES)})")
    with os.scandir(folder) as entries:
        return CorpusFiles(folder, (e.name for e in entries if e.is_file() and
                                    os.path.splitext(e.name)[1].lower() in REFERENCE_SUFFIXES))


def iter_corpus(folder: Path, files: Iterable[Path]) -> Iterator[Reference]:
    """The references of ``files`` (from ``corpus_files``), read one at a time."""
    with _read_metadata(folder) as meta:
        for path in files:
            doc_id = path.stem
            try:
                text = read_document(path.read_bytes(), str(path))
            except ChachongError as exc:
                raise CorpusError(f"reference {exc}") from exc
            info = meta.get(doc_id)
            yield Reference(
                id=doc_id,
                text=text,
                title=str(info.get("title") or default_title(text, doc_id)),
                source=info.get("source"),
                tags={str(k): str(v) for k, v in (info.get("tags") or {}).items()},
            )


class Metadata:
    """``corpus.json``'s entries, each read again from the file when its reference is read:
    only where each entry lies in the file is kept, by id, in a scratch database. Parsed into
    dicts, the entries of 300,000 references held 209 MB through a whole build, kept as compact
    JSON 69 (bench/corpus_memory.py). The file stays open until the last reference is read, so
    a file replaced meanwhile is not mixed with the one indexed."""

    def __init__(self, path: Path | None = None, fd: int | None = None) -> None:
        self.path = path
        self._fd = fd  # the file the places were read from, which this closes
        self._db = _scratch()
        self._db.execute("CREATE TABLE entries (id BLOB PRIMARY KEY, start INTEGER NOT NULL, "
                         "end INTEGER NOT NULL) WITHOUT ROWID")

    def place(self, places: Iterable[tuple[str, int, int]]) -> None:
        """Where entries lie (id, first byte, end byte); of an id given twice the last one
        counts, as for ``json.loads``."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)",
                                 ((_key(doc_id), start, end) for doc_id, start, end in places))

    def __enter__(self) -> Metadata:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._db.close()

    def get(self, doc_id: str) -> dict[str, Any]:
        found = self._db.execute("SELECT start, end FROM entries WHERE id = ?",
                                 (_key(doc_id),)).fetchone()
        if found is None or self._fd is None:
            return {}
        start, end = found
        raw = os.pread(self._fd, end - start, start)
        try:
            entry = json.loads(raw.decode("utf-8"))
        except ValueError:
            entry = None
        if len(raw) != end - start or not isinstance(entry, dict):
            raise CorpusError(f"{self.path}: changed while the corpus was read")
        return entry


def _key(doc_id: str) -> bytes:
    """An id as the scratch database keeps it (JSON may spell lone surrogates)."""
    return doc_id.encode("utf-8", "surrogatepass")


def _read_metadata(folder: Path) -> Metadata:
    path = folder / METADATA_FILE
    if not path.is_file():
        return Metadata()
    with path.open("rb") as file:
        meta = Metadata(path, os.dup(file.fileno()))  # entries are read again from this file
        try:
            meta.place(_entry_places(path, file))
        except BaseException:
            meta.close()
            raise
        return meta


def _entry_places(path: Path, file: BinaryIO) -> Iterator[tuple[str, int, int]]:
    """Each entry's id and where its value lies in the file, in bytes."""
    try:
        data = file.read()
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # Notepad's
        text = data[bom:].decode("utf-8")
        del data
        if not text.startswith("{", _skip(text, 0)):
            raise CorpusError(f"{path}: must map document ids to {{title, source, tags}}")
        to_bytes = _ByteOffsets(text, bom)
        for doc_id, entry, start, end in _object_items(text):
            if not isinstance(entry, dict):
                raise CorpusError(f"{path}: the entry of '{doc_id}' must be an object "
                                  "{title, source, tags}")
            yield doc_id, to_bytes(start), to_bytes(end)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc


class _ByteOffsets:
    """A string's character offsets as byte offsets of its UTF-8 file (after ``base`` bytes),
    asked in ascending order: each piece of the text is encoded once."""

    def __init__(self, text: str, base: int) -> None:
        self._text, self._char, self._byte = text, 0, base

    def __call__(self, char: int) -> int:
        self._byte += len(self._text[self._char : char].encode("utf-8"))
        self._char = char
        return self._byte


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    """Past the JSON white space at ``at``."""
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # it matches anywhere


def _object_items(text: str) -> Iterator[tuple[str, Any, int, int]]:
    """The members of the JSON object ``text``, one at a time, each with where its value begins
    and ends: each value is parsed alone by the standard decoder, so the whole object is never
    held as Python objects. ``text`` starts with "{" after space."""
    at = _skip(text, _skip(text, 0) + 1)
    if text.startswith("}", at):
        at += 1
    else:
        while True:
            if not text.startswith('"', at):
                raise ValueError(f"a member name expected at character {at}")
            key, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if not text.startswith(":", at):
                raise ValueError(f"':' expected at character {at}")
            start = _skip(text, at + 1)
            value, at = _DECODER.raw_decode(text, start)
            yield key, value, start, at
            at = _skip(text, at)
            if text.startswith(",", at):
                at = _skip(text, at + 1)
            elif text.startswith("}", at):
                at += 1
                break
            else:
                raise ValueError(f"',' or '}}' expected at character {at}")
    if _skip(text, at) != len(text):
        raise ValueError(f"extra data at character {at}")
