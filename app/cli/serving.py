"""``chachong serve``: check the settings and the corpus once, then run uvicorn's workers."""

from __future__ import annotations

import os
from pathlib import Path

from app.core.errors import ChachongError

from .common import fail, settings

WORKER_HEALTHCHECK_SECONDS = 60  # a worker starting up on a busy machine is not hung

def run_server(corpus: Path | None, index: Path | None, data: Path | None, host: str,
               port: int, workers: int) -> None:
    import uvicorn

    from app.api.protocol import NoDelayProtocol
    from app.logs import LOG_CONFIG

    from .checking import load_index

    if corpus is not None:
        os.environ["CHACHONG_CORPUS"] = str(corpus.resolve())
    if index is not None:
        os.environ["CHACHONG_INDEX"] = str(index.resolve())
    if data is not None:
        os.environ["CHACHONG_DATA"] = str(data.resolve())
    loaded = settings()  # fail here, once, on a bad setting rather than in every worker
    try:
        load_index(loaded.corpus, loaded.index)
    except ChachongError as exc:
        raise fail(str(exc)) from None
    # uvicorn's supervisor kills a worker that does not answer its health check in time (5 s by
    # default): on a busy machine a worker still starting up missed it, and was killed and
    # restarted over and over
    uvicorn.run("app.api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=LOG_CONFIG, http=NoDelayProtocol,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
