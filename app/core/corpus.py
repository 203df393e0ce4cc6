"""Reference documents and corpus folders.

A corpus folder holds one reference per file (any document type the readers take but images);
the
document id is the file name without its extension. An optional ``corpus.json`` beside the files
gives titles, sources and tags: ``{"id": {"title": ..., "source": ..., "tags": {...}}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

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


def corpus_files(folder: Path) -> list[Path]:
    """The reference files of a corpus folder, sorted."""
    if not folder.is_dir():
        raise CorpusError(f"{folder}: the corpus must be a folder of reference files "
                          f"({', '.join(REFERENCE_SUFFIXES)})")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in REFERENCE_SUFFIXES)


def iter_corpus(folder: Path, files: list[Path]) -> Iterator[Reference]:
    """The references of ``files`` (from ``corpus_files``), read one at a time."""
    meta = _read_metadata(folder)
    seen: dict[str, Path] = {}
    for path in files:
        doc_id = path.stem
        if doc_id in seen:
            raise CorpusError(f"{path}: the id '{doc_id}' is also used by {seen[doc_id].name}; "
                              "rename one of them")
        seen[doc_id] = path
        try:
            text = read_document(path.read_bytes(), str(path))
        except ChachongError as exc:
            raise CorpusError(f"reference {exc}") from exc
        info = meta.get(doc_id, {})
        yield Reference(
            id=doc_id,
            text=text,
            title=str(info.get("title") or default_title(text, doc_id)),
            source=info.get("source"),
            tags={str(k): str(v) for k, v in (info.get("tags") or {}).items()},
        )


def _read_metadata(folder: Path) -> dict[str, dict]:
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: must map document ids to {{title, source, tags}}")
    return data
