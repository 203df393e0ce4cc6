"""Uploaded files to documents: one document, or every report of a .zip, and ids made from
their file names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

from app.core import CrossResult, require_text
from app.core.readers import Extracted, ReadOptions, extract, extract_all, is_archive
from app.core.schema import DocumentInfo

ID_MAX = 128
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.\-\u4e00-\u9fff]+")


@dataclass
class Uploaded:
    """The documents of a form's uploads, by file name, and what the readers passed over."""

    documents: list[tuple[str, Extracted]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.documents]

    @property
    def texts(self) -> list[str]:
        return [extracted.text for _, extracted in self.documents]

    def info(self, index: int) -> DocumentInfo:
        return self.documents[index][1].info()


def documents_of(name: str, data: bytes, options: ReadOptions, archives: bool) -> Uploaded:
    """The document an upload is, or with ``archives`` each report inside a .zip (named by its
    path in the archive: 一处/述职报告.docx and 二处/述职报告.docx stay apart). A document
    without text is refused, naming it."""
    if archives and is_archive(name):
        members, warnings = extract_all(data, name, options)
        out = Uploaded(warnings=warnings)
        for path, extracted in members:
            member = path[len(name) + 1:]
            require_text(extracted.text, f"{name}: {member}")
            out.documents.append((member, extracted))
        return out
    extracted = extract(data, name, options)
    require_text(extracted.text, name)
    return Uploaded([(name, extracted)])


def report_ids(names: list[str]) -> list[str]:
    """An id for each file name or path in an archive (without its suffix, with what ids may
    not hold, '/' among them, replaced by '_'), made unique with -2, -3, ... in order: file
    names are free, ids are not."""
    used: set[str] = set()
    out = []
    for name in names:
        path = PurePath(name.replace("\\", "/"))
        stem = str(path.with_suffix("")) if path.suffix else str(path)
        stem = _NOT_IN_ID.sub("_", stem).strip("_.-") or "report"
        stem = stem[: ID_MAX - 4]
        rid, n = stem, 1
        while rid in used:
            n += 1
            rid = f"{stem}-{n}"
        used.add(rid)
        out.append(rid)
    return out


def with_documents(cross: CrossResult, uploaded: Uploaded) -> CrossResult:
    """A batch's result with how each uploaded file was read, and the readers' warnings about
    archive members passed over (reports are in upload order)."""
    reports = [report.model_copy(update={"result": report.result.model_copy(
        update={"document": uploaded.info(i)})}) for i, report in enumerate(cross.reports)]
    return cross.model_copy(update={"reports": reports,
                                    "warnings": cross.warnings + uploaded.warnings})
