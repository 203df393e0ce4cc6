"""Reference documents and corpus folders.

A corpus folder holds one reference per file (any document type the readers take but images);
the
document id is the file name without its extension. An optional ``corpus.json`` beside the files
gives titles, sources and tags: ``{"id": {"title": ..., "source": ..., "tags": {...}}}``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, overload

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


class CorpusFiles(Sequence[Path]):
    """The reference files of a corpus folder, sorted, kept as their names: a Path object a file
    held 77 MB through the build of 300,000 references, the names 25 (bench/corpus_memory.py)."""

    def __init__(self, folder: Path, names: list[str]) -> None:
        self.folder = folder
        self.names = names

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
    meta = _read_metadata(folder)
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
    """``corpus.json``'s entries, each kept as compact UTF-8 JSON until its reference is read:
    parsed into dicts, the entries of 300,000 references held 209 MB through a whole build, kept
    like this 69 (bench/corpus_memory.py)."""

    def __init__(self, entries: dict[str, bytes]) -> None:
        self._entries = entries

    def get(self, doc_id: str) -> dict[str, Any]:
        raw = self._entries.get(doc_id)
        return {} if raw is None else json.loads(raw)


def _read_metadata(folder: Path) -> Metadata:
    path = folder / METADATA_FILE
    if not path.is_file():
        return Metadata({})
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad writes a BOM
        if not text.startswith("{", _skip(text, 0)):
            raise CorpusError(f"{path}: must map document ids to {{title, source, tags}}")
        entries: dict[str, bytes] = {}
        for doc_id, entry in _object_items(text):
            if not isinstance(entry, dict):
                raise CorpusError(f"{path}: the entry of '{doc_id}' must be an object "
                                  "{title, source, tags}")
            entries[doc_id] = json.dumps(entry, ensure_ascii=False,
                                         separators=(",", ":")).encode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    return Metadata(entries)


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    """Past the JSON white space at ``at``."""
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # it matches anywhere


def _object_items(text: str) -> Iterator[tuple[str, Any]]:
    """The members of the JSON object ``text``, one at a time: each value is parsed alone by
    the standard decoder, so the whole object is never held as Python objects (a key given
    twice: the last one counts, as for ``json.loads``). ``text`` starts with "{" after space."""
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
            at = _skip(text, at + 1)
            value, at = _DECODER.raw_decode(text, at)
            yield key, value
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
