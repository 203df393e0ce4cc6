"""A real Redis Cluster (3 masters, 3 replicas on loopback) losing a master while a server adds
and checks: requests in the gap answer 503 with Retry-After, never 500; the cluster promotes the
replica; no addition that answered 201 is lost (each waited for a replica's acknowledgement). A
write the gap cut off may have landed all the same: its retry answers 409.
The whole API suite also runs on a cluster (tests/test_api.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import TestClient, isolated_settings, provincial_names, provincial_paragraphs
from redis_support import RedisCluster

from app.access import KeyStore
from app.access.keys import KEYS_FILE
from app.api.main import create_app

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer k"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    folder = tmp_path / "cluster"
    folder.mkdir()
    running = RedisCluster(folder)
    running.start()
    yield running
    running.stop()


def texts() -> list[str]:
    """Real, distinct report paragraphs."""
    return [p for name in provincial_names() for p in provincial_paragraphs(name)[1:12]]


def test_a_master_fails_while_a_server_adds_and_checks(cluster: RedisCluster,
                                                      tmp_path: Path) -> None:
    paragraphs = texts()
    statuses: list[tuple[str, int, str | None]] = []
    acked: dict[str, str] = {}
    stop = threading.Event()
    settings = isolated_settings(tmp_path / "data", store=cluster.url, api_keys="k")

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        def work() -> None:
            n = 0
            while not stop.is_set() and n < len(paragraphs):
                ref_id, text = f"f-{n:03d}", paragraphs[n]
                added = client.post("/v1/references", json={"id": ref_id, "text": text},
                                    headers=AUTH)
                statuses.append(("add", added.status_code, added.headers.get("retry-after")))
                if added.status_code == 201:
                    acked[ref_id] = text
                if added.status_code in (201, 409):  # 409: a retry of a write the gap cut off
                    n += 1
                checked = client.post("/v1/check", json={"text": text})
                statuses.append(("check", checked.status_code,
                                 checked.headers.get("retry-after")))
                time.sleep(0.02)

        worker = threading.Thread(target=work)
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while len(acked) < 15 and time.monotonic() < deadline:
                time.sleep(0.05)
            victim = cluster.masters()[0]
            cluster.kill(victim)
            killed_at = len(statuses)
            cluster.wait_ok(timeout=30, replicas=0)  # the replica took over its slots
            cluster.start_node(victim)  # back, as the new master's replica
            cluster.wait_ok(timeout=30, replicas=1)
            before = len(acked)
            deadline = time.monotonic() + 60
            while len(acked) < before + 10 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(60)
        assert len(acked) >= 25, f"only {len(acked)} additions acknowledged"
        assert all(code in (200, 201, 409, 503) for _, code, _ in statuses), \
            [s for s in statuses if s[1] not in (200, 201, 409, 503)]
        unavailable = [s for s in statuses[killed_at:] if s[1] == 503]
        assert all(retry == "2" for _, _, retry in unavailable)
        assert 200 in {code for kind, code, _ in statuses[killed_at:] if kind == "check"}

    # a server with an empty data folder copies the whole shared corpus from the cluster
    fresh = isolated_settings(tmp_path / "fresh", store=cluster.url, api_keys="k")
    with TestClient(create_app(fresh)) as client:
        listed = client.get("/v1/references", params={"limit": 500}).json()
        assert {item["id"] for item in listed["items"]} >= set(acked)
        for ref_id, text in list(acked.items())[:: max(1, len(acked) // 8)]:
            assert client.get(f"/v1/references/{ref_id}").json()["text"] == text


def test_collections_keys_and_limits_on_a_cluster(cluster: RedisCluster, tmp_path: Path) -> None:
    """On a Redis Cluster a collection is made once for every server (its registry is one hash
    slot), its references are found by a second server through the collection's own log, a key
    of another collection does not see it, and a key's requests a minute are counted in the
    cluster, across servers. Keys are each data folder's: the second server has a copy of the
    first's key file."""
    paragraphs = texts()
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
    _, secret = KeyStore(folders[0]).create("other unit", ["check", "read"], ["templates"], 3)
    with sqlite3.connect(folders[0] / KEYS_FILE) as source, \
            sqlite3.connect(folders[1] / KEYS_FILE) as copy:
        source.backup(copy)
    source.close()
    copy.close()
    one, two = (create_app(isolated_settings(f, store=cluster.url, api_keys="k"))
                for f in folders)
    with TestClient(one) as first, TestClient(two) as second:
        made = first.post("/v1/collections", headers=AUTH, json={"name": "zuzhibu"})
        assert made.status_code == 201, made.text
        again = second.post("/v1/collections", headers=AUTH, json={"name": "zuzhibu"})
        assert again.json()["error"]["code"] == "collection_exists"
        added = first.post("/v1/collections/zuzhibu/references/batch", headers=AUTH,
                           json={"references": [{"id": f"z-{i}", "text": t}
                                                for i, t in enumerate(paragraphs[:20])]})
        assert added.status_code == 201, added.text
        checked = second.post("/v1/check", params={"collections": ["zuzhibu"]}, headers=AUTH,
                              json={"text": paragraphs[3]}).json()
        assert {(s["id"], s["collection"]) for s in checked["sources"]} == {
            ("zuzhibu/z-3", "zuzhibu")}
        assert second.get("/v1/collections/zuzhibu/references/z-3",
                          headers=AUTH).json()["text"] == paragraphs[3]

        other = {"Authorization": f"Bearer {secret}"}
        statuses = [client.get("/v1/collections/zuzhibu/references/z-3",
                               headers=other).status_code for client in (first, second)]
        assert statuses == [404, 404]
        assert first.get("/v1/references", headers=other).status_code == 200
        limited = second.get("/v1/references", headers=other)  # the fourth in a minute
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
