#!/usr/bin/env python3
"""Scale benchmark: build, load and serve a disk index of a large generated corpus.

    python bench/scale.py --corpus bench/data/gen100k --index bench/data/idx100k \\
        --queries bench/data/genq [--skip-build] [--trace FILE]

The query reports are a generated set with another seed than the corpus (made here when the
folder does not exist: ``generate_corpus.py --n 300 --seed 7 --out bench/data/genq``). Half of them,
chosen by a seeded RNG, get 1-3 paragraphs of random corpus reports spliced in, so that checks
really find copies in the index (``spliced_found``: share of those donors named among the
sources); the other half copy nothing, and ``fresh_flagged_share`` is the mean share of their
text flagged all the same (the corpus's natural overlap with new reports).

Steps, each timed:
1. build: ``chachong index build CORPUS --out INDEX --workers 2`` as a subprocess; wall time,
   CPU use of the children over wall (2.0 = both cores busy), peak RSS, size on disk;
2. in this process: load the index, check every query once (after 5 warm-up checks);
3. ``chachong serve --workers 1``: time to /readyz, RSS of the server, latency of one client;
4. ``chachong serve --workers 2``: time to ready, throughput of concurrent clients.

Memory is summed over the server's processes: RSS (which counts the memory-mapped index pages
once per process that touched them), RssAnon, RssFile and PSS (which shares those pages out).
The CPU the servers used over each phase, divided by its wall time (``server_cpu_ratio_*``, per
process for 2 workers), tells a saturated server from one starved by other jobs.

Prints one JSON line on stdout; progress goes to stderr. Every server is stopped (its whole
process group) whatever happens. The machine may be shared: the load average at the start and at
the end is part of the output.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MB = 1024 * 1024
MIN_DONOR_PARA = 60  # shorter lines are mostly headings: too little to splice as a copy
QUERY_SEED = 7  # seed of the generated query reports (the corpus uses another)


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def chachong_command() -> list[str]:
    script = VENV_BIN / "chachong"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": 0.0, "p99": 0.0, "mean": 0.0}
    ms = np.array(seconds) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1),
            "mean": round(float(ms.mean()), 1)}


# -- queries -----------------------------------------------------------------------------------


@dataclass
class Query:
    name: str
    text: str
    donors: list[str]  # corpus ids whose paragraphs were spliced in


def ensure_queries(folder: Path, n: int) -> None:
    """Generate the query reports once; later runs reuse them, so figures compare."""
    if folder.is_dir() and any(folder.glob("*.txt")):
        return
    log(f"generating {n} query reports into {folder}")
    subprocess.run([sys.executable, str(ROOT / "bench" / "generate_corpus.py"), "--n", str(n),
                    "--seed", str(QUERY_SEED), "--out", str(folder), "--workers", "2"],
                   check=True, stdout=sys.stderr)


def donor_paragraphs(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln for ln in lines[1:] if len(ln.strip()) >= MIN_DONOR_PARA]


def clean_donors(corpus: Path) -> list[Path]:
    """Corpus reports that copy no template themselves, so a found donor is the true source
    (a template paragraph also sits in many other generated reports). Without a corpus.json
    every report; with one, only those it describes (the others' copies are not known)."""
    meta_file = corpus / "corpus.json"
    files = sorted(corpus.glob("*.txt"))
    if not meta_file.is_file():
        return files
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    return [p for p in files if p.stem in meta
            and "copies" not in (meta[p.stem].get("tags") or {})]


def load_queries(folder: Path, corpus: Path, seed: int,
                 limit: int | None = None) -> list[Query]:
    """The query reports, half of them with 1-3 paragraphs of corpus reports spliced in
    (seeded; from the first ``limit`` reports of the corpus when given)."""
    rng = random.Random(seed)
    donors = clean_donors(corpus)
    if limit is not None:
        allowed = set(sorted(corpus.glob("*.txt"))[:limit])
        donors = [p for p in donors if p in allowed]
    queries = []
    for i, path in enumerate(sorted(folder.glob("*.txt"))):
        text = path.read_text(encoding="utf-8")
        used: list[str] = []
        if i % 2 == 1:  # every other report copies: exactly half, independent of the RNG
            lines = text.splitlines()
            for _ in range(rng.randint(1, 3)):
                donor = rng.choice(donors)
                paras = donor_paragraphs(donor)
                if not paras:
                    continue
                lines.insert(rng.randint(1, len(lines)), rng.choice(paras))
                used.append(donor.stem)
            text = "\n".join(lines) + "\n"
        queries.append(Query(path.name, text, used))
    return queries


# -- build -------------------------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(corpus: Path, index: Path, workers: int, trace: Path | None = None) -> dict:
    """Build with the CLI, as a user would (its progress bar goes to our stderr), sampling the
    memory of its whole process tree (the command and its worker processes) twice a second;
    with ``trace``, each sample as a JSON line: seconds, the segments written so far, and each
    process's memory as ``memory_of`` gives it (the command first)."""
    cmd = [*chachong_command(), "index", "build", str(corpus), "--out", str(index),
           "--workers", str(workers)]
    log("building: " + " ".join(cmd))
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=sys.stderr, env=clean_env())
    peak = {"rss_mb": 0, "pss_mb": 0}
    samples = trace.open("w", encoding="utf-8") if trace else None
    while proc.poll() is None:
        pids = process_tree(proc.pid)
        now = memory_of(pids)
        peak = {k: max(peak[k], now[k]) for k in peak}
        if samples:
            samples.write(json.dumps({"s": round(time.perf_counter() - t0, 1),
                                      "segments": _segments_written(index),
                                      "processes": [memory_of([pid]) for pid in pids]}) + "\n")
        time.sleep(0.5)
    if samples:
        samples.close()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    wall = time.perf_counter() - t0
    cpu = children_cpu() - cpu0
    log(f"built in {wall:.0f} s")
    return {"build_s": round(wall, 1), "build_cpu_ratio": round(cpu / wall, 2),
            "build_peak_tree_rss_mb": peak["rss_mb"], "build_peak_tree_pss_mb": peak["pss_mb"]}


def index_figures(index: Path) -> dict:
    """Size on disk (as du counts it), the counts the segments' headers hold, and what each
    kind of file costs (summed over the segments)."""
    current = (index / "CURRENT").read_text(encoding="ascii").strip()
    manifest = json.loads((index / current).read_text(encoding="utf-8"))
    refs = units = seeds = 0
    files: dict[str, int] = {}
    for entry in manifest["segments"]:
        header = json.loads((index / "segments" / entry["name"] / "header.json")
                            .read_text(encoding="utf-8"))
        refs += header["docs"] - entry.get("deleted", 0)
        units += header["units"]
        seeds += header["tables"]["seed"]["words"]
        for name, info in header["files"].items():
            files[name] = files.get(name, 0) + info["bytes"]
    disk = sum(f.stat().st_blocks * 512 for f in index.rglob("*") if f.is_file())
    return {"references": refs, "units": units, "seed_entries": seeds,
            "segments": len(manifest["segments"]), "index_bytes": disk,
            "bytes_per_reference": round(disk / max(refs, 1)),
            "index_file_mb": {k: round(v / MB, 1) for k, v in sorted(files.items())}}


def _segments_written(index: Path) -> int:
    """Segments in the build's staging folder (beside ``index``) so far."""
    return sum(len(list((staging / "segments").glob("s-*")))
               for staging in index.parent.glob(f".{index.name}.building-*")
               if (staging / "segments").is_dir())


# -- in-process --------------------------------------------------------------------------------


def in_process(index_path: Path, queries: list[Query], warmup: int) -> dict:
    """Load and check in this process: the cost of the core alone, without HTTP."""
    from app.core import check_text
    from app.core.index import MultiIndex
    from app.options import CheckOverrides, check_options
    from app.settings import Settings
    from app.storage import LiveIndex

    options = check_options(Settings(), CheckOverrides())  # what the server applies
    t0 = time.perf_counter()
    index = MultiIndex(LiveIndex(index_path, slot_base=0, readonly=True).parts())
    load_s = time.perf_counter() - t0
    rss_loaded = memory_of([os.getpid()])["rss_mb"]
    log(f"loaded {len(index)} references in {load_s:.1f} s; checking {len(queries)} reports")
    for q in queries[:warmup]:
        check_text(q.text, index, options)
    times, found, donors, fresh = [], 0, 0, []
    for q in queries:
        t = time.perf_counter()
        result = check_text(q.text, index, options)
        times.append(time.perf_counter() - t)
        sources = {s.id for s in result.sources}
        donors += len(q.donors)
        found += sum(d in sources for d in q.donors)
        if not q.donors:
            fresh.append(result.raw_copy_ratio)
    stats = percentiles_ms(times)
    figures = {"load_s": round(load_s, 2), "inproc_p50_ms": stats["p50"],
               "inproc_p99_ms": stats["p99"], "inproc_mean_ms": stats["mean"],
               "spliced_found": round(found / donors, 3) if donors else None,
               # the natural overlap: what a report that copies nothing has flagged
               "fresh_flagged_share": round(float(np.mean(fresh)), 4) if fresh else None,
               "inproc_rss_mb_loaded": rss_loaded,
               "inproc_rss_mb_after": memory_of([os.getpid()])["rss_mb"]}
    del index
    gc.collect()  # drop the maps before the servers run beside this process
    return figures


# -- memory ------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """The server and its worker processes (uvicorn's supervisor spawns one per worker)."""
    try:
        import psutil
    except ImportError:
        return _proc_tree(pid)
    try:
        root = psutil.Process(pid)
        return [pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def _proc_tree(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        tree += kids
        frontier = kids
    return tree


def _status_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0])
    return fields


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def memory_of(pids: list[int]) -> dict:
    """Summed over the processes. RSS counts a file page once per process that maps it, so
    the sum overstates what the machine spends; PSS shares such pages out and does not."""
    total = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "Pss": 0}
    for pid in pids:
        with contextlib.suppress(OSError):
            status = _status_kb(pid)
            for key in ("VmRSS", "RssAnon", "RssFile"):
                total[key] += status.get(key, 0)
            total["Pss"] += _pss_kb(pid)
    return {"processes": len(pids), "rss_mb": round(total["VmRSS"] / 1024),
            "rss_anon_mb": round(total["RssAnon"] / 1024),
            "rss_file_mb": round(total["RssFile"] / 1024), "pss_mb": round(total["Pss"] / 1024)}


def cpu_of(pids: list[int]) -> float:
    """User+system seconds the processes have used so far (/proc/<pid>/stat, in clock
    ticks): over a load phase, divided by its wall time, 2.0 means both workers stayed busy."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process (the load-generating clients compete for the same cores)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def command_lines(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            out.append(raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120])
    return out


# -- server ------------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """No CHACHONG_* setting of the caller's shell may change what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log_path: Path
    ready_s: float = 0.0

    def memory(self) -> dict:
        return memory_of(process_tree(self.proc.pid))

    def cpu_seconds(self) -> float:
        return cpu_of(process_tree(self.proc.pid))


def start_server(workdir: Path, source: list[str], workers: int) -> Server:
    """Start ``chachong serve`` in its own process group, so stopping it reaches every
    worker. ``source`` is ['--index', PATH] or ['--corpus', PATH]."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    cmd = [*chachong_command(), "serve", *source, "--data", str(workdir / f"data-{port}"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log(f"starting: {' '.join(cmd)}")
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=workdir, env=clean_env(),
                                start_new_session=True)
    return Server(proc, f"http://127.0.0.1:{port}", log_path)


def wait_ready(server: Server, workers: int, started: float, timeout: float) -> float:
    """Seconds from start until /readyz answers 200 and every worker has started (one ready
    worker alone would answer /readyz while the other still loads)."""
    deadline = started + timeout
    with httpx.Client(timeout=5) as client:
        while time.perf_counter() < deadline:
            if server.proc.poll() is not None:
                break
            text = server.log_path.read_text(encoding="utf-8", errors="replace")
            if text.count("Application startup complete") >= workers:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{server.url}/readyz").status_code == 200:
                        return time.perf_counter() - started
            time.sleep(0.1)
    tail = server.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"the server did not become ready in {timeout:.0f} s:\n{tail}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the whole process group: SIGTERM, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived their supervisor


@contextlib.contextmanager
def running_server(workdir: Path, source: list[str], workers: int,
                   timeout: float) -> Iterator[Server]:
    started = time.perf_counter()
    server = start_server(workdir, source, workers)
    try:
        server.ready_s = wait_ready(server, workers, started, timeout)
        log(f"ready in {server.ready_s:.1f} s at {server.url}")
        yield server
    finally:
        stop_server(server.proc)
        log("server stopped")


def post_check(client: httpx.Client, url: str, text: str) -> bool:
    response = client.post(f"{url}/v1/check", json={"text": text})
    return response.status_code == 200 and "verdict" in response.json()


def latency_one_client(url: str, queries: list[Query], warmup: int) -> tuple[dict, int]:
    """Every query once, one after another: the latency a lone user sees."""
    times, errors = [], 0
    with httpx.Client(timeout=120) as client:
        for q in queries[:warmup]:
            post_check(client, url, q.text)
        for q in queries:
            t = time.perf_counter()
            try:
                ok = post_check(client, url, q.text)
            except httpx.HTTPError:
                ok = False
            times.append(time.perf_counter() - t)
            errors += not ok
    return percentiles_ms(times), errors


def throughput(url: str, queries: list[Query], clients: int, duration: float) -> dict:
    """``clients`` threads, each with its own connection, posting queries back to back for
    ``duration`` seconds; requests under way at the end are let finish and counted."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def client_loop(k: int) -> None:
        i = k * len(queries) // clients  # each client starts elsewhere in the list
        with httpx.Client(timeout=120) as client:
            while time.perf_counter() < deadline:
                text = queries[i % len(queries)].text
                i += 1
                t = time.perf_counter()
                why = ""
                try:
                    if not post_check(client, url, text):
                        why = "bad answer"
                except httpx.HTTPError as exc:
                    why = type(exc).__name__
                elapsed = time.perf_counter() - t
                with lock:
                    if why:
                        errors.append(why)
                    else:
                        times.append(elapsed)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    stats = percentiles_ms(times)
    return {"clients": clients, "elapsed_s": elapsed, "checks": len(times),
            "checks_per_s": round(len(times) / elapsed, 2), "errors": len(errors),
            "first_errors": sorted(set(errors))[:3], **stats}


def serve_one_worker(workdir: Path, index: Path, queries: list[Query], warmup: int,
                     timeout: float) -> dict:
    with running_server(workdir, ["--index", str(index)], 1, timeout) as server:
        loaded = server.memory()
        log(f"RSS after load {loaded}; one client over {len(queries)} reports")
        cpu0, t0 = server.cpu_seconds(), time.perf_counter()
        stats, errors = latency_one_client(server.url, queries, warmup)
        cpu_ratio = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
        after = server.memory()
    return {"ready_s_1w": round(server.ready_s, 1), "rss_mb_after_load": loaded["rss_mb"],
            "rss_anon_mb": loaded["rss_anon_mb"], "rss_file_mb": loaded["rss_file_mb"],
            "pss_mb_after_load": loaded["pss_mb"], "rss_mb_after_run": after["rss_mb"],
            "rss_anon_mb_after_run": after["rss_anon_mb"], "pss_mb_after_run": after["pss_mb"],
            "http_p50_ms": stats["p50"], "http_p99_ms": stats["p99"],
            "http_mean_ms": stats["mean"], "http_errors_1w": errors,
            "server_cpu_ratio_1w": round(cpu_ratio, 2)}


def serve_two_workers(workdir: Path, index: Path, queries: list[Query], clients: int,
                      duration: float, timeout: float) -> dict:
    with running_server(workdir, ["--index", str(index)], 2, timeout) as server:
        loaded = server.memory()
        log(f"RSS after load {loaded}; {clients} clients for {duration:.0f} s")
        log("server processes: " + " | ".join(command_lines(process_tree(server.proc.pid))))
        pids = process_tree(server.proc.pid)
        cpu0 = [cpu_of([pid]) for pid in pids]
        own0 = own_cpu()
        load = throughput(server.url, queries, clients, duration)
        # per process: whether the kernel spread the clients' connections over both workers
        busy = [round((cpu_of([pid]) - c) / load["elapsed_s"], 2) for pid, c in zip(pids, cpu0,
                                                                               strict=True)]
        client_ratio = (own_cpu() - own0) / load["elapsed_s"]
        after = server.memory()
    log(f"throughput {load['checks_per_s']}/s over {load['elapsed_s']:.0f} s")
    return {"ready_s_2w": round(server.ready_s, 1), "rss_mb_2w_loaded": loaded["rss_mb"],
            "checks_per_s_2w": load["checks_per_s"], "checks_2w": load["checks"],
            "clients_2w": clients, "http2_p50_ms": load["p50"], "http2_p99_ms": load["p99"],
            "errors": load["errors"], "first_errors": load["first_errors"],
            "rss_mb_2w": after["rss_mb"], "rss_anon_mb_2w": after["rss_anon_mb"],
            "pss_mb_2w": after["pss_mb"], "server_processes_2w": after["processes"],
            "server_cpu_ratio_2w": round(sum(busy), 2), "server_cpu_by_process_2w": busy,
            "client_cpu_ratio_2w": round(client_ratio, 2)}


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="folder of generated reports")
    ap.add_argument("--index", type=Path, required=True, help="index folder to build and use")
    ap.add_argument("--queries", type=Path, required=True, help="folder of query reports")
    ap.add_argument("--skip-build", action="store_true", help="use the index as it is")
    ap.add_argument("--trace", type=Path, help="write the build's memory samples here (JSON "
                    "lines)")
    ap.add_argument("--n-queries", type=int, default=300, help="reports to generate when "
                    "--queries does not exist yet")
    ap.add_argument("--splice-seed", type=int, default=11, help="RNG seed of the splicing")
    ap.add_argument("--build-workers", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients, 2 workers")
    ap.add_argument("--duration", type=float, default=45, help="seconds of concurrent load")
    ap.add_argument("--ready-timeout", type=float, default=600)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the servers run in a folder of their own: relative paths would point nowhere there
    args.corpus, args.index, args.queries = (p.resolve() for p in (args.corpus, args.index,
                                                                   args.queries))
    # a plain `kill` should still run the finally blocks that stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.perf_counter()
    figures: dict[str, object] = {"load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    if not args.skip_build:
        figures.update(build(args.corpus, args.index, args.build_workers, args.trace))
    figures.update(index_figures(args.index))
    ensure_queries(args.queries, args.n_queries)
    queries = load_queries(args.queries, args.corpus, args.splice_seed)
    figures["queries"] = len(queries)
    figures["queries_spliced"] = sum(bool(q.donors) for q in queries)
    figures["query_chars_mean"] = round(float(np.mean([len(q.text) for q in queries])))
    figures.update(in_process(args.index, queries, args.warmup))
    with tempfile.TemporaryDirectory(prefix="chachong-scale-") as tmp:
        workdir = Path(tmp)
        figures.update(serve_one_worker(workdir, args.index, queries, args.warmup,
                                        args.ready_timeout))
        figures.update(serve_two_workers(workdir, args.index, queries, args.clients,
                                         args.duration, args.ready_timeout))
    figures["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(figures, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
