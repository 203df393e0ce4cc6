"""The audit trail under load and a crash: a real two-worker ``chachong serve`` takes 1,000 mixed
requests from four client threads (additions to a collection and to templates, deletions, checks,
checks that store the report): the trail then holds exactly one entry per request, naming its
key, action, collection and target. A second run of 400 is SIGKILLed after 200 answers: every
acknowledged request has its entry, the only others are of the requests in flight at the kill;
the trail holds no text; after a restart it goes on from where it was."""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from api_helpers import AUTH, provincial_paragraphs, running_server

from app.access import AuditLog

pytestmark = pytest.mark.slow

TOTAL = 1000
KILLED_RUN, KILL_AFTER = 400, 200  # requests of the second run, answers before the kill
CLIENTS = 4
TIMEOUT = 60


def texts() -> list[str]:
    return [p for name in ("2025-广东省", "2025-浙江省") for p in provincial_paragraphs(name)
            if len(p) >= 80]


class Mixed:
    """Client threads taking request numbers from one counter. Request n is, by a fixed draw,
    an addition (to the collection or to templates), a deletion of an acknowledged addition, a
    check, or a check that stores its report."""

    def __init__(self, url: str, first: int, total: int, stop_at: int | None = None) -> None:
        self.url = url
        self.stop_at = stop_at
        self.end = first + total
        self.texts = texts()
        self.lock = threading.Lock()
        self.next = first
        self.acked: list[tuple[str, str, str]] = []  # (action, collection, target)
        self.added: list[tuple[str, str]] = []  # (collection, id) acknowledged, not deleted
        self.killed = threading.Event()
        self.reached = threading.Event()

    def _take(self) -> int | None:
        with self.lock:
            if self.next >= self.end or self.killed.is_set():
                return None
            self.next += 1
            return self.next - 1

    def _ack(self, entry: tuple[str, str, str]) -> None:
        with self.lock:
            self.acked.append(entry)
            if self.stop_at is not None and len(self.acked) >= self.stop_at:
                self.reached.set()

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        return threads

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=AUTH, timeout=TIMEOUT) as client:
            while (n := self._take()) is not None:
                try:
                    self._one(client, n)
                except httpx.TransportError:
                    return  # the server was killed

    def _one(self, client: httpx.Client, n: int) -> None:
        rng = random.Random(n)
        text = rng.choice(self.texts)
        kind = rng.choice(["add", "add", "add-templates", "delete", "check", "check", "store"])
        if kind == "delete":
            with self.lock:
                target = self.added.pop(rng.randrange(len(self.added))) if self.added else None
            if target is not None:
                collection, ref_id = target
                path = ("/v1/references" if collection == "templates" else
                        f"/v1/collections/{collection}/references")
                response = client.delete(f"{path}/{ref_id}")
                assert response.status_code == 204, response.text
                self._ack(("delete_reference" if collection == "templates" else
                           "delete_in_collection", collection, ref_id))
                return
            kind = "add"
        if kind in ("add", "add-templates"):
            collection = "own" if kind == "add" else "templates"
            ref_id = f"req-{n:04d}"
            path = "/v1/references" if collection == "templates" else \
                "/v1/collections/own/references"
            response = client.post(path, json={"id": ref_id, "text": f"第{n}号。{text}"})
            assert response.status_code == 201, response.text
            with self.lock:
                self.added.append((collection, ref_id))
            self._ack(("add_reference" if collection == "templates" else "add_to_collection",
                       collection, ref_id))
            return
        params: dict[str, object] = {"collections": ["templates", "own"]}
        if kind == "store":
            params.update(store="true", store_in="own", id=f"kept-{n:04d}")
        response = client.post("/v1/check", params=params, json={"text": text})
        assert response.status_code == 200, response.text
        check_id = response.headers["content-location"].rsplit("/", 1)[1]
        target = check_id + (f",own/kept-{n:04d}" if kind == "store" else "")
        self._ack(("check", "templates,own", target))


def ok_entries(data: Path) -> list[tuple[str, str, str]]:
    return [(e.action, e.collection or "", e.target or "") for e in AuditLog(data).entries()
            if e.outcome == "ok" and e.key == "env-1" and e.action != "create_collection"]


def test_one_entry_per_request_and_none_lost_to_a_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(tmp_path, data, workers=2) as server:
        made = httpx.post(f"{server.url}/v1/collections", headers=AUTH, json={"name": "own"})
        assert made.status_code == 201, made.text
        full = Mixed(server.url, 0, TOTAL)
        for thread in full.start():
            thread.join(600)
        assert len(full.acked) == TOTAL
        assert {kind for kind, _, _ in full.acked} == {
            "add_to_collection", "add_reference", "check", "delete_in_collection",
            "delete_reference"}
        assert any("," in target for (_, _, target) in full.acked), "no check stored its report"
        assert Counter(ok_entries(data)) == Counter(full.acked)

        killed = Mixed(server.url, TOTAL, KILLED_RUN, stop_at=KILL_AFTER)
        killed.added = list(full.added)
        threads = killed.start()
        assert killed.reached.wait(600), f"only {len(killed.acked)} acknowledged"
        killed.killed.set()
        server.kill(signal.SIGKILL)
        for thread in threads:
            thread.join(TIMEOUT)
    acked = Counter(full.acked + killed.acked)
    entries = Counter(ok_entries(data))
    missing = acked - entries
    assert not missing, f"{sum(missing.values())} acknowledged requests have no entry"
    assert max(entries.values()) == 1, "a request was written twice"
    unacknowledged = entries - acked
    assert sum(unacknowledged.values()) <= CLIENTS, unacknowledged  # in flight at the kill
    raw = b"".join(p.read_bytes() for p in data.glob("audit.sqlite3*"))
    assert all(t[:30].encode() not in raw for t in texts()), "a text is in the audit trail"

    # a restarted server goes on appending after what the killed one committed
    before = len(list(AuditLog(data).entries()))
    with running_server(tmp_path, data) as server:
        assert httpx.post(f"{server.url}/v1/check", headers=AUTH, timeout=TIMEOUT,
                          json={"text": texts()[0]}).status_code == 200
    after = list(AuditLog(data).entries())
    assert len(after) == before + 1 and after[-1].action == "check"
    assert [e.seq for e in after] == sorted(e.seq for e in after)
