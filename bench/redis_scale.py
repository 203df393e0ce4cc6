#!/usr/bin/env python3
"""Servers sharing one corpus through a Redis Cluster (3 masters, 3 replicas on loopback).

    python bench/redis_scale.py --corpus bench/data/gen100k --refs 20000 \\
        --queries bench/data/genq [--dev ../shared/eval/dev]

1. memory: ``--refs`` generated reports added through one server's batch endpoint; Redis's
   ``used_memory`` (INFO memory) summed over the masters, before and after, per reference;
2. scale: with both servers up and settled (their copies of the cluster flushed and merged,
   the quiet merge included: the servers run with a quiet time of ``QUIET`` s), the latency
   of one client alone on each server process; then checks/s and latency of one server
   process and of two (each with its own data folder: a machine's), 8 client threads, in
   ``--rounds`` alternating rounds of ``--duration`` / ``--rounds`` s each (one, two, one,
   two, ...), so that a change in the machine's speed during the run falls on both alike; the
   ratio of the sums and of each pair;
3. equality: the dev set (``../shared/eval/dev``, scored with ``../shared/eval/score.py``)
   through a server on the cluster and through one on its own data folder: the figures and
   every answer;
4. failover: one server adding and checking while a master is killed: requests answered 503,
   seconds from the kill to the next acknowledged addition, acknowledged additions missing
   afterwards.

The cluster is made with the tests' harness (``tests/redis_support.py``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from growth import wait_settled  # noqa: E402
from redis_support import RedisCluster  # noqa: E402
from scale import (  # noqa: E402
    Server,
    chachong_command,
    clean_env,
    free_port,
    load_queries,
    percentiles_ms,
    stop_server,
    wait_ready,
)

from app.storage.merge import MergePolicy  # noqa: E402

SHARED = ROOT.parent / "shared"
KEY = "redis-bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def log(message: str) -> None:
    print(f"[redis] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def serving(workdir: Path, store: str | None, *extra: str, workers: int = 1,
            timeout: float = 600) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    env = {**clean_env(), "CHACHONG_API_KEYS": KEY, "CHACHONG_QUIET_MERGE_SECONDS": str(QUIET),
           **({"CHACHONG_STORE": store} if store else {})}
    cmd = [*chachong_command(), "serve", "--data", str(data_folder(workdir, port)), "--host",
           "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra]
    started = time.perf_counter()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        server.ready_s = wait_ready(server, workers, started, timeout)
        yield server
    finally:
        stop_server(proc)


def used_memory(cluster: RedisCluster) -> int:
    total = 0
    for port in cluster.masters():
        with redis.Redis(port=port) as node:
            total += int(node.info("memory")["used_memory"])
    return total


def add_all(url: str, files: list[Path], batch: int = 100) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for a in range(0, len(files), batch):
            body = {"references": [{"id": p.stem, "text": p.read_text(encoding="utf-8")}
                                   for p in files[a : a + batch]]}
            response = client.post(f"{url}/v1/references/batch", json=body, headers=AUTH)
            if response.status_code != 201:
                raise RuntimeError(response.text[:300])
            if (a // batch) % 20 == 0:
                log(f"added {a + batch}")
    return time.perf_counter() - started


ONE_CLIENT_SECONDS = 30.0
QUIET = 10.0  # seconds without additions before a server's quiet merge: settled sooner


def data_folder(workdir: Path, port: int) -> Path:
    """A server's data folder, named by its port."""
    return workdir / f"data-{port}"


def data_index(workdir: Path, server: Server) -> Path:
    return data_folder(workdir, int(server.url.rsplit(":", 1)[1])) / "index"


def throughput(urls: list[str], texts: list[str], clients: int, duration: float) -> dict:
    times, errors = load(urls, texts, clients, duration)
    return {"checks": len(times), "errors": errors,
            "checks_per_s": round(len(times) / duration, 1), "latency_ms": percentiles_ms(times)}


def load(urls: list[str], texts: list[str], clients: int,
         duration: float) -> tuple[list[float], int]:
    """``clients`` threads checking ``texts`` for ``duration`` s, spread over ``urls``: the
    seconds each check took, and how many failed."""
    times: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def run(k: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=120) as client:
            i = k * len(texts) // clients
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = client.post(f"{urls[k % len(urls)]}/v1/check",
                                       json={"text": texts[i % len(texts)]})
                with lock:
                    times.append(time.perf_counter() - started)
                    errors += response.status_code != 200
                i += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors


def alternating(one: str, two: str, texts: list[str], clients: int, duration: float,
                rounds: int) -> dict:
    """Checks/s of one server and of two, measured in alternating rounds."""
    each = duration / rounds
    names = ("one_process", "two_processes")
    times: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    counts: dict[str, list[int]] = {name: [] for name in names}
    for _ in range(rounds):
        for name, urls in zip(names, ([one], [one, two]), strict=True):
            got, failed = load(urls, texts, clients, each)
            times[name] += got
            errors[name] += failed
            counts[name].append(len(got))
    out: dict = {name: {"checks": len(times[name]), "errors": errors[name],
                        "checks_per_s": round(len(times[name]) / duration, 1),
                        "rounds_checks_per_s": [round(n / each, 1) for n in counts[name]],
                        "latency_ms": percentiles_ms(times[name])} for name in names}
    out["scale"] = round(len(times["two_processes"]) / len(times["one_process"]), 2)
    out["scale_by_round"] = [round(b / a, 2) for a, b in
                             zip(counts["one_process"], counts["two_processes"], strict=True)]
    return out


def wait_copied(url: str, expected: int, timeout: float = 1800) -> float:
    """Until the server's copy holds every reference (a listing catches up first)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        total = httpx.get(f"{url}/v1/references?limit=1", timeout=600).json()["total"]
        if total >= expected:
            return time.perf_counter() - started
        time.sleep(1)
    raise RuntimeError("the server did not catch up")


def score(url: str, dev: Path) -> dict:
    done = subprocess.run([sys.executable, str(SHARED / "eval" / "score.py"), str(dev),
                           "--url", f"{url}/v1/check", "--json"], capture_output=True,
                          text=True, check=True)
    figures = json.loads(done.stdout)
    return {k: v for k, v in figures.items() if "seconds" not in k and "time" not in k}


def answers(url: str, dev: Path) -> list[dict]:
    with httpx.Client(timeout=120) as client:
        return [client.post(f"{url}/v1/check", json={"text": p.read_text(encoding="utf-8"),
                                                     "title": p.name}).json()
                for p in sorted((dev / "cases").glob("*.txt"))]


def failover(cluster: RedisCluster, workdir: Path, texts: list[str]) -> dict:
    statuses: list[tuple[float, str, int]] = []
    acked: list[str] = []
    stop = threading.Event()
    with serving(workdir, cluster.url) as server:
        def work() -> None:
            n = 0
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    ref_id = f"fo-{n:05d}"
                    added = client.post(f"{server.url}/v1/references", headers=AUTH,
                                        json={"id": ref_id, "text": texts[n % len(texts)]
                                              + f"（第{n}份）"})
                    statuses.append((time.perf_counter(), "add", added.status_code))
                    if added.status_code == 201:
                        acked.append(ref_id)
                    if added.status_code in (201, 409):
                        n += 1
                    checked = client.post(f"{server.url}/v1/check", json={"text": texts[n % 50]})
                    statuses.append((time.perf_counter(), "check", checked.status_code))

        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(5)
        victim = cluster.masters()[0]
        killed = time.perf_counter()
        cluster.kill(victim)
        cluster.wait_ok(timeout=60, replicas=0)
        promoted = time.perf_counter() - killed
        cluster.start_node(victim)
        cluster.wait_ok(timeout=60, replicas=1)
        time.sleep(5)
        stop.set()
        worker.join(120)
        after = [(t, kind, code) for t, kind, code in statuses if t >= killed]
        first_ok = next((t for t, kind, code in after if kind == "add" and code == 201), None)
        listed = {item["id"] for a in range(0, len(acked) + 500, 500) for item in httpx.get(
            f"{server.url}/v1/references", params={"limit": 500, "offset": a},
            timeout=120).json()["items"]}
    return {"requests": len(statuses), "after_kill": len(after),
            "answered_503": sum(code == 503 for _, _, code in after),
            "answered_500": sum(code >= 500 and code != 503 for _, _, code in statuses),
            "replica_promoted_s": round(promoted, 1),
            "recovered_s": round(first_ok - killed, 1) if first_ok else None,
            "acknowledged": len(acked), "lost": len(set(acked) - listed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--refs", type=int, default=20_000)
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "data" / "genq")
    parser.add_argument("--dev", type=Path, default=SHARED / "eval" / "dev")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=90,
                        help="seconds of load for each of one and two servers, in all")
    parser.add_argument("--rounds", type=int, default=6,
                        help="alternating rounds the load of each is cut into")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chachong-redis-"))
    files = sorted(args.corpus.glob("*.txt"))[: args.refs]
    queries = [q.text for q in load_queries(args.queries, args.corpus, seed=11,
                                            limit=args.refs)]
    out: dict = {"refs": len(files), "load_at_start": os.getloadavg()[0]}
    folder = workdir / "cluster"
    folder.mkdir()
    cluster = RedisCluster(folder)
    cluster.start()
    try:
        before = used_memory(cluster)
        with serving(workdir, cluster.url) as server:
            out["add_s"] = round(add_all(server.url, files), 1)
        used = used_memory(cluster) - before
        out["redis_used_memory_mb"] = round(used / 2**20, 1)
        out["redis_bytes_per_reference"] = round(used / len(files))
        expected = len(files) + 5
        with serving(workdir, cluster.url) as one, serving(workdir, cluster.url) as two:
            out["copy_s"] = round(wait_copied(one.url, expected), 1)
            wait_copied(two.url, expected)
            # measured once the copies are flushed and merged, the quiet merge included
            out["settle_s"] = [wait_settled(data_index(workdir, server), MergePolicy(
                quiet_seconds=QUIET), 1800) for server in (one, two)]
            # one client alone: a check's own latency, without queueing behind others
            out["one_client"] = throughput([one.url], queries, 1, ONE_CLIENT_SECONDS)
            out["one_client_second_server"] = throughput([two.url], queries, 1,
                                                         ONE_CLIENT_SECONDS)
            out.update(alternating(one.url, two.url, queries, args.clients, args.duration,
                                   args.rounds))
        if args.dev.is_dir():
            cluster.flush()
            with serving(workdir, cluster.url, "--corpus", str(args.dev / "corpus")) as shared, \
                    serving(workdir, None, "--corpus", str(args.dev / "corpus")) as alone:
                out["dev_shared"] = score(shared.url, args.dev)
                out["dev_embedded"] = score(alone.url, args.dev)
                out["dev_answers_equal"] = answers(shared.url, args.dev) == \
                    answers(alone.url, args.dev)
        cluster.flush()
        out["failover"] = failover(cluster, workdir, queries)
    finally:
        cluster.stop()
    out["load_at_end"] = os.getloadavg()[0]
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
