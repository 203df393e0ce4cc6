"""Uploaded files to texts: one document, or every report of a .zip, and ids made from their
file names."""

from __future__ import annotations

import re
from pathlib import PurePath

from app.core import read_document, require_text
from app.core.archive import is_zip, unpack_zip

ID_MAX = 128
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.\-\u4e00-\u9fff]+")


def texts_of(name: str, data: bytes, archives: bool) -> list[tuple[str, str]]:
    """(file name, text) of an upload: the document itself, or with ``archives`` each report
    inside a .zip (named by its own file name, never by its path)."""
    if archives and is_zip(name):
        return [(member, require_text(read_document(raw, f"{name}: {member}"),
                                      f"{name}: {member}"))
                for member, raw in unpack_zip(data, name)]
    return [(name, require_text(read_document(data, name), name))]


def report_ids(names: list[str]) -> list[str]:
    """An id for each file name (its stem, with what ids may not hold replaced by '_'), made
    unique with -2, -3, ... in order: file names are free, ids are not."""
    used: set[str] = set()
    out = []
    for name in names:
        stem = _NOT_IN_ID.sub("_", PurePath(name).stem).strip("_.-") or "report"
        stem = stem[: ID_MAX - 4]
        rid, n = stem, 1
        while rid in used:
            n += 1
            rid = f"{stem}-{n}"
        used.add(rid)
        out.append(rid)
    return out
