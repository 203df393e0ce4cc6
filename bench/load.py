#!/usr/bin/env python3
"""Load test: a real ``chachong serve --workers 2`` on 127.0.0.1 (a temporary data folder, the dev
set's corpus, read from ``../shared/eval/dev`` beside the clone), driven by locust (headless, as
a library) with 50 concurrent clients for 60 s,
each posting the real dev cases one after another with no pause.

    pip install -e '.[bench]'
    python bench/load.py                        # 50 clients, 60 s, 2 workers
    python bench/load.py --users 10 --duration 20

Prints one JSON line: requests, errors, checks/s, latency percentiles (ms). Exits 1 when any
request failed (a status other than 200, an answer without a verdict, or a transport error).
Everything is bounded in time: the server must be ready within --ready-timeout, the run stops
after --duration, and the server's whole process group is killed at the end whatever happens.
The load goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV = SHARED / "eval" / "dev"


# This script keeps its own server helpers: the other benches' (bench/scale.py) import httpx,
# and so ssl, which must come after gevent's patching (see main).
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "chachong"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def start_server(workdir: Path, corpus: Path, workers: int, timeout: float
                 ) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    cmd = [*serve_command(), "serve", "--data", str(workdir / "data"), "--corpus", str(corpus),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=workdir, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        started = log.read_text(encoding="utf-8", errors="replace").count(
            "Application startup complete")
        if started >= workers and _ready(url):
            return proc, url, log
        time.sleep(0.2)
    stop_server(proc)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise SystemExit(f"the server did not become ready in {timeout:.0f} s:\n{tail}")


def _ready(url: str) -> bool:
    import urllib.request  # after gevent's patching (urllib imports ssl)

    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop_server(proc: subprocess.Popen) -> None:
    """Kill the server's process group (supervisor and workers), gracefully first."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def run_load(url: str, cases: list[tuple[str, str]], users: int, duration: float,
             spawn_rate: float) -> dict:
    import gevent
    from locust import FastHttpUser, constant, task
    from locust.env import Environment

    latencies: list[float] = []
    failures: list[str] = []

    class CheckUser(FastHttpUser):
        host = url
        wait_time = constant(0)
        network_timeout = 120.0
        connection_timeout = 30.0

        @task
        def check_a_case(self) -> None:
            name, text = random.choice(cases)
            with self.client.post("/v1/check", json={"text": text, "title": name},
                                  name="/v1/check", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{name}: status {response.status_code}")
                elif '"verdict"' not in (response.text or ""):
                    response.failure(f"{name}: an answer without a verdict")

    env = Environment(user_classes=[CheckUser])

    def on_request(response_time: float, exception: BaseException | None, **_: object) -> None:
        if exception is None:
            latencies.append(response_time)
        else:
            failures.append(str(exception)[:200])

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    started = time.monotonic()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(duration, runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    total = env.stats.total
    return {
        "users": users, "duration_s": round(elapsed, 1), "requests": total.num_requests,
        "errors": total.num_failures, "checks_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p90_ms": round(percentile(latencies, 0.90), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies, default=0.0), 1),
        "first_errors": sorted(set(failures))[:5],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=50, help="concurrent clients")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--spawn-rate", type=float, default=50, help="clients started per second")
    ap.add_argument("--cases", type=Path, default=DEV / "cases", help="folder of .txt reports")
    ap.add_argument("--corpus", type=Path, default=DEV / "corpus", help="reference folder")
    ap.add_argument("--ready-timeout", type=float, default=120)
    args = ap.parse_args(argv)

    from gevent import monkey  # locust needs gevent's patching before anything opens sockets

    monkey.patch_all()
    cases = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(args.cases.glob("*.txt"))]
    if not cases:
        raise SystemExit(f"no .txt cases in {args.cases}")
    with tempfile.TemporaryDirectory(prefix="chachong-load-") as tmp:
        proc, url, _log = start_server(Path(tmp), args.corpus, args.workers, args.ready_timeout)
        try:
            figures = run_load(url, cases, args.users, args.duration, args.spawn_rate)
        finally:
            stop_server(proc)
    figures = {"workers": args.workers, "cases": len(cases), **figures}
    print(json.dumps(figures, ensure_ascii=False))
    return 1 if figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
