"""``chachong index build|add|verify``: saved index folders, with a progress bar."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.progress import MofNCompleteColumn, Progress

from app.core.corpus import corpus_files, iter_corpus
from app.core.errors import ChachongError
from app.core.readers import REFERENCE_SUFFIXES
from app.storage import add_to_folder, build_index_folder, verify_folder

from .common import err, fail


def build(folder: Path, out: Path, workers: int) -> None:
    try:
        files = corpus_files(folder)
        if not files:
            raise fail(f"{folder}: no reference files found ({', '.join(REFERENCE_SUFFIXES)})")
        with _progress("indexing", len(files)) as advance:
            count = build_index_folder(iter_corpus(folder, files), out, workers=workers,
                                       progress=advance)
    except ChachongError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{out}: cannot be written ({exc.strerror})") from None
    err().print(f"indexed {count} references into {out}")


def add(folder: Path, index: Path, workers: int) -> None:
    try:
        files = corpus_files(folder)
        if not files:
            raise fail(f"{folder}: no reference files found ({', '.join(REFERENCE_SUFFIXES)})")
        with _progress("adding", len(files)) as advance:
            count = add_to_folder(iter_corpus(folder, files), index, workers=workers,
                                  progress=advance, ids=[p.stem for p in files])
    except ChachongError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{index}: cannot be written ({exc.strerror})") from None
    err().print(f"added {count} references to {index}")


def fold(store: str, index: Path) -> None:
    from app.storage.build import fold_shared
    from app.storage.shared_log import SharedLog

    try:
        shared = SharedLog(store)
        with _progress("folding", shared.count()) as advance:
            count = fold_shared(shared, index, progress=advance)
    except ChachongError as exc:
        raise fail(str(exc)) from None
    err().print(f"folded {count} references into {index}; the store holds what is added after")


def verify(path: Path) -> None:
    try:
        found = verify_folder(path)
    except ChachongError as exc:
        raise fail(str(exc)) from None
    err().print(f"{path}: intact ({found['documents']} references in {found['segments']} "
                f"segments, {found['pending']} in the log)")


@contextlib.contextmanager
def _progress(what: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error, advanced by the callable yielded."""
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=err(),
                  transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)
