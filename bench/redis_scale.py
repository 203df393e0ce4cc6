#!/usr/bin/env python3
"""Shared deployment: one Redis holding the index, one or two ``chachong serve`` processes.

    python bench/redis_scale.py --corpus /path/to/generated --refs 2000 --queries /path/to/queries

Starts a private redis-server (Debian's), adds --refs references of --corpus to the Redis index
(both cores), then, side by side in one run: checks/s of one server process and of two server
processes on the same Redis (8 client threads posting the query reports for --duration s each,
spread over the servers), and whether the Redis-backed server answers exactly as the embedded
index built from the same references. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scale import free_port  # noqa: E402  (bench/ is this script's own folder)

from app.core import (  # noqa: E402
    CheckOptions,
    build_index,
    bundled_corpus_dir,
    check_text,
    load_corpus,
)
from app.core.combined import CombinedIndex  # noqa: E402
from app.core.corpus import corpus_files, iter_corpus  # noqa: E402
from app.storage.redis import RedisIndex  # noqa: E402


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port",
                             str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def servers(count: int, store: str, workdir: Path) -> Iterator[list[str]]:
    """``count`` separate server processes (one worker each) on the same Redis."""
    procs, urls = [], []
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    env["CHACHONG_STORE"] = store
    chachong = str(Path(sys.executable).parent / "chachong")
    try:
        for i in range(count):
            port = free_port()
            procs.append(subprocess.Popen(
                [chachong, "serve", "--port", str(port), "--data", str(workdir / f"d{i}")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        for url in urls:
            while not _ready(url):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not become ready")
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def throughput(urls: list[str], texts: list[str], clients: int, duration: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + duration
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=urls[n % len(urls)], timeout=60) as http:
            i = n
            while time.monotonic() < stop:
                start = time.perf_counter()
                response = http.post("/v1/check", json={"text": texts[i % len(texts)]})
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors[0] += 1
                i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    ordered = sorted(latencies)
    return {"checks_per_s": round(len(latencies) / wall, 1), "errors": errors[0],
            "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--refs", type=int, default=2000)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    refs = list(iter_corpus(args.corpus, corpus_files(args.corpus)[: args.refs]))
    texts = [p.read_text(encoding="utf-8") for p in sorted(args.queries.glob("*.txt"))]
    # half the queries copy a few paragraphs from the references, as resubmitted reports do
    texts = [t + "\n" + "\n".join(refs[i * 7 % len(refs)].text.split("\n")[1:4]) if i % 2 else t
             for i, t in enumerate(texts)]
    out: dict = {"refs": len(refs), "queries": len(texts), "clients": args.clients}
    with redis_server() as url, tempfile.TemporaryDirectory() as tmp:
        index = RedisIndex(url)
        began = time.monotonic()
        index.add_many(refs, workers=2)
        out["add_s"] = round(time.monotonic() - began, 1)
        info = index._redis.info("memory")
        out["redis_mb"] = round(info["used_memory"] / 2**20, 1)
        # what the server checks against: the bundled templates plus the Redis references
        embedded = CombinedIndex(build_index(load_corpus(bundled_corpus_dir())),
                                 build_index(refs))
        with servers(1, url, Path(tmp)) as urls:
            out["same_results_as_embedded"] = all(
                httpx.post(f"{urls[0]}/v1/check", json={"text": t}, timeout=60).json()
                == json.loads(check_text(t, embedded, CheckOptions()).model_dump_json())
                for t in texts[:10])
            out["one_server"] = throughput(urls, texts, args.clients, args.duration)
        with servers(2, url, Path(tmp)) as urls:
            out["two_servers"] = throughput(urls, texts, args.clients, args.duration)
    out["ratio"] = round(out["two_servers"]["checks_per_s"] / out["one_server"]["checks_per_s"],
                         2)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
