#!/usr/bin/env python3
"""Growth benchmark: a corpus that grows through the API, as an organisation's does.

    python bench/growth.py --corpus bench/data/gen300k --n 100000 [--delete 20000 --more 20000]

A real ``chachong serve --workers 2`` on the bundled corpus, with a fresh data folder:

1. ingest: ``--n`` generated reports (``--corpus``, in file order) added with
   ``POST /v1/references/batch`` (``--batch`` a request) by ``--clients`` threads; references
   a second, and the CPU the server used;
2. wait until the log is flushed and the merges the policy wants are done, those it makes once
   the index has been quiet included (the servers run with ``CHACHONG_QUIET_MERGE_SECONDS`` of
   ``--quiet-seconds``); the index on disk;
3. restart (SIGTERM, then a new server on the same data): seconds to ready, resident memory of
   each worker (in all, anonymous, mapped index pages, PSS), check latency of one client over
   the query reports (3,000 characters of fresh text, half with corpus paragraphs spliced in:
   every spliced source must be found);
4. ``--delete`` random references removed and ``--more`` new ones added; wait for the merges
   (the servers run with ``CHACHONG_EXPUNGE_SECONDS`` of ``--expunge-seconds``, so segments
   holding removals are rewritten within the run); the removed references' ids are in no
   segment and the catalogue, and their texts in no segment's documents; restart and measure
   again.

The query reports are made once by ``bench/scale.py``'s rule (``generate_corpus.py --n 300
--seed 7``). Prints one JSON line on stdout; progress on stderr. Every server is stopped (its
process group) whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import (
    ROOT,
    Query,
    Server,
    chachong_command,
    clean_env,
    cpu_of,
    ensure_queries,
    free_port,
    index_figures,
    load_queries,
    memory_of,
    percentiles_ms,
    process_tree,
    stop_server,
    wait_ready,
)

sys.path.insert(0, str(ROOT))
from app.storage.manifest import read_current
from app.storage.merge import MergePolicy
from app.storage.records import decode_text
from app.storage.wal import Wal

KEY = "growth-bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def log(message: str) -> None:
    print(f"[growth] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def serving(workdir: Path, data: Path, workers: int, policy: MergePolicy,
            timeout: float = 120) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    cmd = [*chachong_command(), "serve", "--data", str(data), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers)]
    started = time.perf_counter()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=workdir,
                                env={**clean_env(), "CHACHONG_API_KEYS": KEY,
                                     "CHACHONG_EXPUNGE_SECONDS": str(policy.expunge_seconds),
                                     "CHACHONG_QUIET_MERGE_SECONDS": str(policy.quiet_seconds)},
                                start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        server.ready_s = wait_ready(server, workers, started, timeout)
        log(f"ready in {server.ready_s:.1f} s")
        yield server
    finally:
        stopped = time.perf_counter()
        stop_server(proc)
        log(f"stopped in {time.perf_counter() - stopped:.1f} s")


def per_worker_rss(server: Server) -> list[dict]:
    """Resident MB of each worker (the supervisor holds no index): in all, its own (anonymous)
    and the index pages it has mapped (file pages of the kernel's cache, shared by the
    workers and given back under memory pressure)."""
    return [{k: v for k, v in memory_of([pid]).items() if k != "processes"}
            for pid in process_tree(server.proc.pid)[1:]]


def add_all(url: str, files: list[Path], batch: int, clients: int) -> dict:
    chunks = [files[a : a + batch] for a in range(0, len(files), batch)]
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def send(chunk: list[Path]) -> None:
        body = {"references": [{"id": p.stem, "text": p.read_text(encoding="utf-8")}
                               for p in chunk]}
        with httpx.Client(timeout=600) as client:
            response = client.post(f"{url}/v1/references/batch", json=body, headers=AUTH)
        with lock:
            if response.status_code != 201:
                errors.append(f"{response.status_code} {response.text[:200]}")
            done[0] += len(chunk)
            if done[0] % (batch * 100) < batch:
                log(f"added {done[0]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} batches refused: {errors[:3]}")
    return {"added": len(files), "seconds": round(seconds, 1),
            "references_per_s": round(len(files) / seconds, 1)}


def delete_all(url: str, ids: list[str], clients: int) -> dict:
    started = time.perf_counter()

    def remove(chunk: list[str]) -> list[str]:
        bad = []
        with httpx.Client(timeout=120) as client:
            for ref_id in chunk:
                answer = client.delete(f"{url}/v1/references/{ref_id}", headers=AUTH)
                if answer.status_code != 204:
                    bad.append(f"{ref_id}: {answer.status_code} {answer.text[:200]}")
        return bad

    step = -(-len(ids) // clients)
    with ThreadPoolExecutor(clients) as pool:
        bad = [b for part in pool.map(remove, [ids[a : a + step]
                                               for a in range(0, len(ids), step)]) for b in part]
    if bad:
        raise RuntimeError(f"{len(bad)} deletions refused: {bad[:5]}")
    seconds = time.perf_counter() - started
    return {"deleted": len(ids), "seconds": round(seconds, 1),
            "deletions_per_s": round(len(ids) / seconds, 1)}


def settled(index: Path, policy: MergePolicy) -> bool:
    """The log is flushed and the policy wants no merge, not even once the index is quiet."""
    manifest = read_current(index)
    waiting = Wal(index, readonly=True).pending()[0]
    return manifest is not None and waiting == 0 and policy.select(
        manifest.segments, quiet_for=float("inf")) is None and not any((index / "tmp").iterdir())


def wait_settled(index: Path, policy: MergePolicy, timeout: float) -> float:
    started = time.perf_counter()
    while not settled(index, policy):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"the index did not settle in {timeout:.0f} s")
        time.sleep(1)
    return round(time.perf_counter() - started, 1)


def measure(server: Server, queries: list[Query], warmup: int,
            removed: frozenset[str] = frozenset()) -> dict:
    """Latency of one client; spliced sources found (those still in the corpus)."""
    times, found, donors = [], 0, 0
    with httpx.Client(timeout=120) as client:
        for q in queries[:warmup]:
            client.post(f"{server.url}/v1/check", json={"text": q.text})
        for q in queries:
            started = time.perf_counter()
            response = client.post(f"{server.url}/v1/check", json={"text": q.text})
            times.append(time.perf_counter() - started)
            sources = {s["id"] for s in response.json()["sources"]}
            kept = [d for d in q.donors if d not in removed]
            donors += len(kept)
            found += sum(d in sources for d in kept)
    return {"ready_s": round(server.ready_s, 1), "rss_mb_per_worker": per_worker_rss(server),
            "check_ms": percentiles_ms(times),
            "spliced_found": round(found / donors, 4) if donors else None}


def gone_from_disk(index: Path, removed: list[str], texts: dict[str, str]) -> dict:
    """The removed ids in no catalogue row and no segment's documents; their texts in no
    segment's text file."""
    wal = Wal(index, readonly=True)
    catalogued = sum(wal.seq_of(ref_id) is not None for ref_id in removed)
    in_segments = held = 0
    wanted = set(removed)
    removed_texts = {texts[r] for r in removed if r in texts}
    for segment in (index / "segments").iterdir():
        with sqlite3.connect(f"{(segment / 'docs.sqlite3').as_uri()}?mode=ro", uri=True) as db:
            ids = {row[0] for row in db.execute("SELECT id FROM docs")}
        in_segments += len(ids & wanted)
        offsets = np.load(segment / "texts.npy").tolist()
        with (segment / "texts.bin").open("rb") as blobs:
            for a, b in itertools.pairwise(offsets):
                blobs.seek(a)
                held += decode_text(blobs.read(b - a)) in removed_texts
    return {"removed_in_catalogue": catalogued, "removed_ids_in_segments": in_segments,
            "removed_texts_in_segments": held}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--delete", type=int, default=20_000)
    parser.add_argument("--more", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "data" / "genq")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--expunge-seconds", type=float, default=60.0,
                        help="the servers' CHACHONG_EXPUNGE_SECONDS: a segment holding removals "
                             "this old is rewritten without them (the default is a day)")
    parser.add_argument("--quiet-seconds", type=float, default=30.0,
                        help="the servers' CHACHONG_QUIET_MERGE_SECONDS: segments are merged "
                             "down once the index has had no change this long (the default is "
                             "5 minutes)")
    args = parser.parse_args()
    policy = MergePolicy(expunge_seconds=args.expunge_seconds, quiet_seconds=args.quiet_seconds)

    files = sorted(args.corpus.glob("*.txt"))
    if len(files) < args.n + args.more:
        raise SystemExit(f"{args.corpus} holds {len(files)} reports; {args.n + args.more} needed")
    ensure_queries(args.queries, 300)
    first, later = files[: args.n], files[args.n : args.n + args.more]
    queries = load_queries(args.queries, args.corpus, seed=11, limit=args.n)
    out: dict = {"n": args.n, "workers": args.workers, "clients": args.clients,
                 "batch": args.batch, "load_at_start": os.getloadavg()[0]}
    # absolute: the servers run in it, and their --data must name the same folder
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="chachong-growth-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    if data.exists():  # a run's references would all be refused as duplicates
        raise SystemExit(f"{data} holds an earlier run's index; remove it or choose another "
                         "--workdir")
    index = data / "index"
    with serving(workdir, data, args.workers, policy) as server:
        out["ready_empty_s"] = round(server.ready_s, 1)
        cpu0 = cpu_of(process_tree(server.proc.pid))
        out["ingest"] = add_all(server.url, first, args.batch, args.clients)
        out["ingest"]["server_cpu_s"] = round(cpu_of(process_tree(server.proc.pid)) - cpu0)
        out["ingest"]["rss_mb_per_worker"] = per_worker_rss(server)
        out["settle_s"] = wait_settled(index, policy, 3600)
    out["index"] = index_figures(index)
    with serving(workdir, data, args.workers, policy) as server:
        out["after_ingest"] = measure(server, queries, args.warmup)
        log(f"so far: {json.dumps(out, ensure_ascii=False)}")  # kept if a later step fails
        rng = random.Random(5)
        removed = rng.sample([p.stem for p in first], args.delete)
        out["delete"] = delete_all(server.url, removed, args.clients)
        out["more"] = add_all(server.url, later, args.batch, args.clients)
        out["settle_again_s"] = wait_settled(index, policy, 3600)
    out["index_after"] = index_figures(index)
    by_id = {p.stem: p for p in first}
    out["gone"] = gone_from_disk(index, removed, {r: by_id[r].read_text(encoding="utf-8")
                                                  for r in removed})
    with serving(workdir, data, args.workers, policy) as server:
        out["after_changes"] = measure(server, queries, args.warmup, frozenset(removed))
    out["load_at_end"] = os.getloadavg()[0]
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
