"""Cross-checking a batch: every report against the corpus and against the other reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .check import CheckOptions, check_text
from .combined import CombinedIndex
from .corpus import Reference
from .errors import DuplicateReferenceError, InputError
from .index import Index, ReferenceIndex
from .schema import CrossResult, Pair, ReportResult

BATCH_TAG = "submission"


def cross_check(reports: list[tuple[str, str]], index: Index, options: CheckOptions,
                on_report: Callable[[int, ReportResult], None] | None = None) -> CrossResult:
    """Check (id, text) reports against the index plus each other (each one left out of its
    own check). The reports go to a private index beside ``index``, which is not changed, so
    no other check ever sees them. ``on_report(i, result)`` hears of each report as it is
    done (for progress; an exception it raises stops the batch)."""
    ids = [rid for rid, _ in reports]
    if len(set(ids)) != len(ids):
        raise InputError("the reports of a batch need distinct ids (file names)")
    clash = [rid for rid in ids if rid in index]
    if clash:
        raise DuplicateReferenceError(f"report id(s) {', '.join(clash)} are also reference ids; "
                                      "rename the reports")
    batch_index = ReferenceIndex()
    batch_index.add_many(Reference(rid, text, rid, "batch", {"kind": BATCH_TAG})
                         for rid, text in reports)
    both = CombinedIndex(index, batch_index)
    results = []
    for i, (rid, text) in enumerate(reports):
        results.append(ReportResult(id=rid, result=check_text(
            text, both, replace(options, ignore=options.ignore | {rid}), title=rid)))
        if on_report is not None:
            on_report(i, results[-1])
    batch = set(ids)
    pairs = [Pair(report=r.id, source=s.id, copied_chars=s.copied_chars, copy_ratio=s.copy_ratio)
             for r in results for s in r.result.sources if s.id in batch]
    pairs.sort(key=lambda p: (-p.copied_chars, p.report, p.source))
    return CrossResult(reports=results, pairs=pairs)
