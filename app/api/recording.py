"""Keeping checks in the history: what a check's record holds, gathered after the check.

A record carries the full text of each source a report copied from (read from the corpus, or
from the batch for a report copied from another report of it), so its permalink shows the same
side-by-side view whatever later happens to the corpus (until a source is deleted: its text then
leaves the record). Only the texts of collections the caller may read are kept: of a source it
may only check against, the record holds the copied passages, as the answer did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core import CheckResult, CrossResult
from app.core.corpus import default_title
from app.core.errors import ChachongError
from app.history import CheckHistory, ReportBody, SourceText, new_check_id
from app.options import CheckOverrides
from app.service import CorpusService

TITLE_MAX = 200
PASTED_TITLE = 40  # a pasted report is named by its first line, cut here


def pasted_title(text: str) -> str:
    first = default_title(text, "report")
    return first if len(first) <= PASTED_TITLE else first[: PASTED_TITLE - 1] + "…"

Service = CorpusService
Readable = Callable[[str | None], bool]  # whether the caller may read a collection's texts


def _everything(_: str | None) -> bool:
    return True


def options_record(overrides: CheckOverrides) -> dict[str, Any]:
    """The options a check was given (only those set), as the record shows them."""
    fields = set(CheckOverrides.model_fields)
    return overrides.model_dump(include=fields, exclude_defaults=True, mode="json")


def _sources(service: Service, result: CheckResult, readable: Readable,
             batch: dict[str, str] | None = None) -> dict[str, SourceText]:
    out: dict[str, SourceText] = {}
    for share in result.sources:
        if batch is not None and share.collection is None and share.id in batch:
            out[share.id] = SourceText(title=share.title, text=batch[share.id])
            continue
        if not readable(share.collection):
            continue
        try:
            ref = service.get_source(share.id)
        except ChachongError:  # deleted since: the record keeps the matched passages only
            continue
        out[share.id] = SourceText(title=ref.display_title, text=ref.text)
    return out


def record_report(history: CheckHistory, service: Service, text: str, title: str | None,
                  result: CheckResult, overrides: CheckOverrides, *, owner: str | None = None,
                  readable: Readable = _everything, stored: str | None = None) -> str | None:
    """Keep one check (``stored``: the source key it was also stored as); its id, or None
    when the history is off."""
    if not history.enabled:
        return None
    check_id = new_check_id()
    body = ReportBody(text=text, result=result, sources=_sources(service, result, readable),
                      options=options_record(overrides))
    history.save_report(check_id, (title or pasted_title(text))[:TITLE_MAX], body, owner=owner,
                        stored=stored)
    return check_id


def batch_title(ids: list[str]) -> str:
    title = "、".join(ids)
    return title if len(title) <= 80 else title[:79] + "…"


def record_batch(history: CheckHistory, service: Service, reports: list[tuple[str, str, str]],
                 cross: CrossResult, overrides: CheckOverrides, *, owner: str | None = None,
                 readable: Readable = _everything) -> tuple[str, dict[str, str]] | None:
    """Keep a batch and each of its reports ((id, file name, text) in the batch's order): the
    batch's id and each report's (by report id), or None when the history is off."""
    if not history.enabled:
        return None
    texts = {rid: text for rid, _, text in reports}
    ids = [new_check_id() for _ in reports]
    rows = []
    for check_id, (rid, name, text), done in zip(ids, reports, cross.reports, strict=True):
        body = ReportBody(text=text, result=done.result, report_id=rid,
                          sources=_sources(service, done.result, readable, texts))
        rows.append((check_id, name[:TITLE_MAX], body))
    batch_id = new_check_id()
    history.save_batch(batch_id, batch_title([rid for rid, _, _ in reports]), rows, cross.pairs,
                       options_record(overrides), owner=owner)
    return batch_id, {rid: check_id for check_id, (rid, _, _) in zip(ids, reports, strict=True)}
