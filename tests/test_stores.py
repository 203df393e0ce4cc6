"""The reference stores: the same behaviour from SQLite and from a real Redis server, sharing
between servers through Redis, and Redis going away and coming back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import template_paragraph

from app.api.main import create_app
from app.core import CheckOptions, Reference, build_index, bundled_corpus_dir, load_corpus
from app.core.errors import (
    DuplicateReferenceError,
    ReferenceNotFoundError,
    StoreUnavailableError,
)
from app.service import CorpusService
from app.settings import Settings
from app.store import RedisStore, ReferenceStore, SqliteStore

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NEW_TEXT = ("今年我们创造性地提出了“红色引擎、绿色发展、蓝色海洋”三色融合党建工作法，"
            "在全系统推广，形成了可复制可推广的机关党建经验。")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on a free port, with no persistence (each test starts empty)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReferenceStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path)
        return
    server = RedisServer()
    server.start()
    try:
        yield RedisStore(server.url)
    finally:
        server.stop()


def _ref(ref_id: str, text: str = NEW_TEXT) -> Reference:
    return Reference(ref_id, text, title=f"标题 {ref_id}", source="2024年报送",
                     tags={"unit": "组织部", "year": "2024"})


def test_add_get_delete_and_log(store: ReferenceStore) -> None:
    """What is added comes back whole, in the log, and leaves with a delete."""
    store.add(_ref("a"))
    store.add(_ref("b", template_paragraph("jianshe-ju", "（一）坚持以上率下")))
    assert store.get("a") == _ref("a")
    assert [r.id for r in store.all()] == ["a", "b"]
    store.delete("a")
    assert store.get("a") is None
    changes = store.changes_since(0)
    assert [(c.op, c.ref_id) for c in changes] == [("add", "a"), ("add", "b"), ("delete", "a")]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert store.changes_since(changes[1].seq) == changes[2:]
    assert store.last_seq() == changes[-1].seq


def test_duplicates_and_unknown_ids_are_refused(store: ReferenceStore) -> None:
    store.add(_ref("a"))
    with pytest.raises(DuplicateReferenceError):
        store.add(_ref("a", "别的内容也不行，同一个编号只能有一份。"))
    with pytest.raises(ReferenceNotFoundError):
        store.delete("missing")
    assert [c.ref_id for c in store.changes_since(0)] == ["a"]


def test_two_services_share_one_redis(redis_server: RedisServer) -> None:
    """A reference added through one server's service is found by another's next check."""
    base = load_corpus(bundled_corpus_dir())
    first = CorpusService(build_index(base), RedisStore(redis_server.url))
    second = CorpusService(build_index(base), RedisStore(redis_server.url))
    first.add(_ref("shared-1"))
    result = second.check(NEW_TEXT[:40], options=CheckOptions())
    assert {m.source.id for p in result.paragraphs for m in p.matches} == {"shared-1"}
    first.delete("shared-1")
    result = second.check(NEW_TEXT[:40], options=CheckOptions())
    assert not [m for p in result.paragraphs for m in p.matches]


def test_redis_down_gives_503_and_recovers(redis_server: RedisServer, tmp_path: Path) -> None:
    """With Redis stopped, checks and writes answer 503 store_unavailable; once it is back the
    same server answers again without a restart."""
    app = create_app(Settings(data=tmp_path, store=redis_server.url, api_keys="k"))
    auth = {"Authorization": "Bearer k"}
    with TestClient(app) as client:
        assert client.post("/v1/references", json={"id": "r1", "text": NEW_TEXT},
                           headers=auth).status_code == 201
        redis_server.stop()
        for response in (client.post("/v1/check", json={"text": NEW_TEXT}),
                         client.post("/v1/references", json={"id": "r2", "text": NEW_TEXT},
                                     headers=auth),
                         client.get("/readyz")):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "store_unavailable"
        redis_server.start()  # empty again: the service resynchronises from it
        assert client.get("/readyz").status_code == 200
        response = client.post("/v1/check", json={"text": NEW_TEXT})
        assert response.status_code == 200
        assert client.post("/v1/references", json={"id": "r3", "text": NEW_TEXT},
                           headers=auth).status_code == 201
        found = {m["source"]["id"] for p in client.post("/v1/check", json={"text": NEW_TEXT})
                 .json()["paragraphs"] for m in p["matches"]}
        assert found == {"r3"}  # r1 went with the old Redis data; the index followed


def test_unreachable_redis_is_a_clear_error() -> None:
    store = RedisStore(f"redis://127.0.0.1:{_free_port()}/0")
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        store.add(_ref("x"))


def test_store_url_is_validated() -> None:
    with pytest.raises(ValueError, match="redis"):
        Settings(store="http://localhost:6379")
