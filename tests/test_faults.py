"""Faults: a real two-worker ``chachong serve`` that flushes every 50 additions (so flushes and
merges run all the time) is SIGKILLed while client threads are adding 1,000 references. Every
reference that was acknowledged (201) survives the crash, no file of the index is half-written
(``verify`` passes), and after a restart on the same --data the corpus answers as before."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import AUTH, CASES, DEV_CORPUS, Server, running_server, source_ids, start_server

from app.storage import LiveIndex, verify_folder

pytestmark = pytest.mark.slow

TOTAL = 1000  # references the clients set out to add
KILL_AFTER = 400  # acknowledgements seen before the server is killed
CLIENTS = 4
TIMEOUT = 30
DEV_SAMPLE = ("case-000.txt", "case-003.txt", "case-010.txt", "case-025.txt", "case-050.txt",
              "case-077.txt")
# Characters of CJK Extension A: real Han characters that no report or template in the dev set
# uses, so the added references cannot change what the dev cases are found to copy.
_RARE = [chr(c) for c in range(0x3400, 0x4DB6)]


def reference_text(n: int) -> str:
    """A unique text of ~300 characters in sentences, the same for the same n."""
    rng = random.Random(n)
    sentences = ["".join(rng.choices(_RARE, k=rng.randint(18, 30))) + "。" for _ in range(12)]
    return f"第{n}号参考材料。" + "".join(sentences)


def ref_id(n: int) -> str:
    return f"fault-{n:04d}"


def dev_answers(server: Server) -> dict[str, dict]:
    answers = {}
    for name in DEV_SAMPLE:
        text = (CASES / name).read_text(encoding="utf-8")
        response = httpx.post(f"{server.url}/v1/check", json={"text": text, "title": name},
                              timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    return answers


class Adders:
    """Client threads taking numbers from one counter and adding those references."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.acked: set[int] = set()
        self.refused: dict[int, int] = {}
        self.lock = threading.Lock()
        self.next = 0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _take(self) -> int | None:
        with self.lock:
            if self.next >= TOTAL:
                return None
            self.next += 1
            return self.next - 1

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, headers=AUTH, timeout=TIMEOUT) as client:
            while (n := self._take()) is not None:
                try:
                    response = client.post("/v1/references", json={
                        "id": ref_id(n), "text": reference_text(n), "title": f"参考{n}"})
                except httpx.TransportError:
                    return  # the server is gone: this request was never acknowledged
                with self.lock:
                    if response.status_code == 201:
                        self.acked.add(n)
                    else:
                        self.refused[n] = response.status_code

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a client thread hung after the crash"


@pytest.fixture
def crashed(tmp_path: Path) -> Iterator[tuple[Path, dict[str, dict], set[int], int]]:
    """Dev-case answers before any addition, then the adders, then SIGKILL mid-stream."""
    data = tmp_path / "data"
    server = start_server(tmp_path, data, corpus=DEV_CORPUS, workers=2,
                          env={"CHACHONG_FLUSH_DOCS": "50"})
    try:
        before = dev_answers(server)
        adders = Adders(server)
        adders.start()
        deadline = time.monotonic() + 90
        while len(adders.acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        sent = adders.next
        server.kill(signal.SIGKILL)  # the whole process group: supervisor and both workers
        adders.join(TIMEOUT)
    finally:
        server.kill()
    assert not adders.refused, adders.refused
    assert len(adders.acked) >= KILL_AFTER, f"only {len(adders.acked)} acknowledged in 90 s"
    assert sent < TOTAL, "every addition finished before the kill: nothing was in flight"
    yield data, before, set(adders.acked), sent


def test_acknowledged_references_survive_sigkill(crashed: tuple[Path, dict[str, dict],
                                                                set[int], int],
                                                 tmp_path: Path) -> None:
    data, before, acked, sent = crashed

    # the index as the crash left it: every file whole, every acknowledged reference in it
    index = data / "index"
    assert verify_folder(index)["segments"] >= 1, "no flush ran before the kill"
    live = LiveIndex(index, readonly=True)
    stored = {s.id for s in live.page(0, TOTAL + 1)}
    missing = sorted(ref_id(n) for n in acked if ref_id(n) not in stored)
    assert not missing, f"{len(missing)} acknowledged references lost: {missing[:10]}"
    for stored_id in stored:  # acknowledged or not, nothing is half-written
        n = int(stored_id.removeprefix("fault-"))
        assert n < sent and live.get(stored_id).text == reference_text(n), stored_id
    rows = stored

    with running_server(tmp_path, data, corpus=DEV_CORPUS, workers=2) as again:
        page = httpx.get(f"{again.url}/v1/references?limit=1", timeout=TIMEOUT).json()
        assert page["total"] == 5 + len(rows)
        with httpx.Client(base_url=again.url, timeout=TIMEOUT) as client:
            for n in sorted(acked):
                got = client.get(f"/v1/references/{ref_id(n)}")
                assert got.status_code == 200, (ref_id(n), got.text)
                assert got.json()["text"] == reference_text(n), ref_id(n)
        for n in sorted(acked)[:: max(1, len(acked) // 5)]:
            result = httpx.post(f"{again.url}/v1/check", json={"text": reference_text(n)},
                                timeout=TIMEOUT).json()
            assert source_ids(result) == {ref_id(n)}, (ref_id(n), result["sources"])
            assert result["copy_ratio"] > 0.9, (ref_id(n), result["copy_ratio"])
        assert dev_answers(again) == before
        # and the restarted server takes new references
        n = TOTAL + 1
        added = httpx.post(f"{again.url}/v1/references", headers=AUTH, timeout=TIMEOUT,
                           json={"id": ref_id(n), "text": reference_text(n)})
        assert added.status_code == 201, added.text
