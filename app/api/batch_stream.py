"""A batch checked with progress: newline-delimited JSON, one event a line, sent as each report
is done, so a page can show every file's state while the rest are checked.

    {"event": "start", "reports": [{"id", "file", "chars"}, ...], "warnings": [...]}
    {"event": "report", "index": i, "id": ..., "result": {...CheckResult}}   (one per report)
    {"event": "done", "check": id | null, "checks": {report id: check id}, "pairs": [...]}
    {"event": "error", "error": {"code", "message"}}                        (instead of done)

The results are those of the plain batch answer. A client that goes away stops the batch at
the next report; nothing of it is kept then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from app.api import metrics
from app.api.recording import Readable, Service, record_batch
from app.api.uploads import Uploaded, with_documents
from app.core import ChachongError, CheckOptions
from app.core.schema import ReportResult
from app.history import CheckHistory
from app.options import CheckOverrides

NDJSON = "application/x-ndjson"
log = logging.getLogger("chachong.api")

_running: set[asyncio.Task] = set()  # a task nobody refers to may be collected mid-way


class _ClientGoneError(Exception):
    pass


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")


def stream_batch(service: Service, history: CheckHistory | None,
                 reports: list[tuple[str, str, str]], options: CheckOptions,
                 overrides: CheckOverrides, uploaded: Uploaded | None = None, *,
                 compared: list[str], owner: str | None, readable: Readable,
                 on_kept: Callable[[str | None], None]) -> StreamingResponse:
    """``reports``: (id, file name, text) in order; ``uploaded``: the files they were read
    from, when they were uploaded (each result then says how its file was read);
    ``compared``: the collections; ``on_kept`` writes the audit entry (with the kept check's
    id) before the last line goes out."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    gone = threading.Event()

    def put(event: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    def on_report(index: int, done: ReportResult) -> None:
        if gone.is_set():
            raise _ClientGoneError
        result = done.result
        if uploaded is not None:
            result = result.model_copy(update={"document": uploaded.info(index)})
        put({"event": "report", "index": index, "id": done.id,
             "result": result.model_dump(mode="json")})

    def work() -> None:
        try:
            cross = service.cross_check([(rid, text) for rid, _, text in reports], options,
                                        on_report, compared)
            if uploaded is not None:
                cross = with_documents(cross, uploaded)
            metrics.CHECKS.inc(len(reports))
            if gone.is_set():
                return
            kept = (record_batch(history, service, reports, cross, overrides, owner=owner,
                                 readable=readable) if history is not None else None)
            on_kept(kept[0] if kept else None)
            put({"event": "done", "check": kept[0] if kept else None,
                 "checks": kept[1] if kept else {},
                 "pairs": [p.model_dump(mode="json") for p in cross.pairs]})
        except _ClientGoneError:
            pass
        except ChachongError as exc:
            put({"event": "error", "error": {"code": exc.code, "message": str(exc)}})
        except Exception:
            log.exception("batch failed")
            put({"event": "error", "error": {"code": "internal_error",
                                             "message": "the batch could not be checked"}})

    async def lines() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(run_in_threadpool(work))
        _running.add(task)
        task.add_done_callback(_running.discard)
        try:
            yield _line({"event": "start", "reports": [
                {"id": rid, "file": name, "chars": len("".join(text.split()))}
                for rid, name, text in reports],
                "warnings": uploaded.warnings if uploaded is not None else []})
            while True:
                event = await events.get()
                yield _line(event)
                if event["event"] in ("done", "error"):
                    break
        finally:
            gone.set()

    return StreamingResponse(lines(), media_type=NDJSON,
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
