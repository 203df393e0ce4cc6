"""Cross-checking a batch: every report against the corpus and against the other reports."""

from __future__ import annotations

from dataclasses import replace

from .check import CheckOptions, check_text
from .corpus import Reference
from .errors import DuplicateReferenceError, InputError
from .index import ReferenceIndex
from .schema import CrossResult, Pair, ReportResult

BATCH_TAG = "submission"


def cross_check(reports: list[tuple[str, str]], index: ReferenceIndex,
                options: CheckOptions) -> CrossResult:
    """Check (id, text) reports. They join the index for the duration of the call, each one
    left out of its own check, and leave it afterwards (the caller serialises index use)."""
    ids = [rid for rid, _ in reports]
    if len(set(ids)) != len(ids):
        raise InputError("the reports of a batch need distinct ids (file names)")
    clash = [rid for rid in ids if rid in index]
    if clash:
        raise DuplicateReferenceError(f"report id(s) {', '.join(clash)} are also reference ids; "
                                      "rename the reports")
    index.add_many(Reference(rid, text, rid, "batch", {"kind": BATCH_TAG}) for rid, text in reports)
    try:
        results = []
        for rid, text in reports:
            results.append(ReportResult(id=rid, result=check_text(
                text, index, replace(options, ignore=options.ignore | {rid}), title=rid)))
    finally:
        for rid in ids:
            index.remove(rid)
    batch = set(ids)
    pairs = [Pair(report=r.id, source=s.id, copied_chars=s.copied_chars, copy_ratio=s.copy_ratio)
             for r in results for s in r.result.sources if s.id in batch]
    pairs.sort(key=lambda p: (-p.copied_chars, p.report, p.source))
    return CrossResult(reports=results, pairs=pairs)
