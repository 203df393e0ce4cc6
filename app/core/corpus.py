"""Reference documents and corpus folders.

A corpus folder holds one reference per file (any document type the readers take but images);
the
document id is the file name without its extension. An optional ``corpus.json`` beside the files
gives titles, sources and tags: ``{"id": {"title": ..., "source": ..., "tags": {...}}}``.
"""

from __future__ import annotations

import bisect
import codecs
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO, overload

import numpy as np

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


class PackedStrings(Sequence[str]):
    """Many short strings kept as one string and where each begins: as a list, the 300,000
    file names of a corpus held 21 MB through a build (in each of its worker processes too,
    which are forked with it), packed 9 (bench/corpus_memory.py)."""

    def __init__(self, items: Sequence[str]) -> None:
        self._text = "".join(items)
        self._starts = np.zeros(len(items) + 1, np.int64)
        np.cumsum([len(item) for item in items], out=self._starts[1:])

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError("index out of range")
        i %= len(self)
        return self._text[self._starts[i] : self._starts[i + 1]]


class CorpusFiles(Sequence[Path]):
    """The reference files of a corpus folder, sorted, kept as their names (packed)."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = folder
        self.names = PackedStrings(names)

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, i: int) -> Path: ...
    @overload
    def __getitem__(self, i: slice) -> list[Path]: ...

    def __getitem__(self, i: int | slice) -> Path | list[Path]:
        if isinstance(i, slice):
            return [self.folder / name for name in self.names[i]]
        return self.folder / self.names[i]

    def __iter__(self) -> Iterator[Path]:
        return (self.folder / name for name in self.names)


def corpus_files(folder: Path) -> CorpusFiles:
    """The reference files of a corpus folder, sorted; two files of one id (``a.txt`` and
    ``a.docx``) are refused here, before any is read."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: the corpus must be a folder of reference files "
                          f"({', '.join(REFERENCE_SUFFIXES)})")
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.is_file()
                       and os.path.splitext(e.name)[1].lower() in REFERENCE_SUFFIXES)
    ids = [os.path.splitext(name)[0] for name in names]
    for a, b in itertools.pairwise(sorted(range(len(names)), key=ids.__getitem__)):
        if ids[a] == ids[b]:
            raise CorpusError(f"{folder / names[b]}: the id '{ids[b]}' is also used by "
                              f"{names[a]}; rename one of them")
    return CorpusFiles(folder, names)


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
    only the ids (sorted, packed) and where each entry lies in the file are held. Parsed into
    dicts, the entries of 300,000 references held 209 MB through a whole build, kept as compact
    JSON 69, like this 17 (bench/corpus_memory.py). The file stays open until the last
    reference is read, so a file replaced meanwhile is not mixed with the one indexed."""

    def __init__(self, path: Path | None = None, ids: Sequence[str] = (),
                 spans: np.ndarray | None = None, fd: int | None = None) -> None:
        self.path = path
        self._ids = PackedStrings(ids)
        self._spans = np.zeros((0, 2), np.int64) if spans is None else spans
        self._fd = fd  # the file the places were read from, which this closes

    def __enter__(self) -> Metadata:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def get(self, doc_id: str) -> dict[str, Any]:
        i = bisect.bisect_left(self._ids, doc_id)
        if i == len(self._ids) or self._ids[i] != doc_id or self._fd is None:
            return {}
        start, end = (int(v) for v in self._spans[i])
        raw = os.pread(self._fd, end - start, start)
        try:
            entry = json.loads(raw.decode("utf-8"))
        except ValueError:
            entry = None
        if len(raw) != end - start or not isinstance(entry, dict):
            raise CorpusError(f"{self.path}: changed while the corpus was read")
        return entry


def _read_metadata(folder: Path) -> Metadata:
    path = folder / METADATA_FILE
    if not path.is_file():
        return Metadata()
    with path.open("rb") as file:
        fd = os.dup(file.fileno())  # entries are read again from this very file
        try:
            return _index_metadata(path, file, fd)
        except BaseException:
            os.close(fd)
            raise


def _index_metadata(path: Path, file: BinaryIO, fd: int) -> Metadata:
    try:
        data = file.read()
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # Notepad's
        text = data[bom:].decode("utf-8")
        del data
        if not text.startswith("{", _skip(text, 0)):
            raise CorpusError(f"{path}: must map document ids to {{title, source, tags}}")
        ids: list[str] = []
        spans: list[int] = []
        to_bytes = _ByteOffsets(text, bom)
        for doc_id, entry, start, end in _object_items(text):
            if not isinstance(entry, dict):
                raise CorpusError(f"{path}: the entry of '{doc_id}' must be an object "
                                  "{title, source, tags}")
            ids.append(doc_id)
            spans += (to_bytes(start), to_bytes(end))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    del text
    # sorted by id; of an id given twice the last one counts, as for ``json.loads``
    order = sorted(range(len(ids)), key=ids.__getitem__)
    last = [i for k, i in enumerate(order) if k + 1 == len(order) or ids[order[k + 1]] != ids[i]]
    table = np.array(spans, np.int64).reshape(-1, 2)
    return Metadata(path, [ids[i] for i in last], table[last], fd)


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
