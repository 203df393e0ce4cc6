#!/usr/bin/env python3
"""Detection quality at scale: the dev evaluation set scored against an index that holds the dev
corpus plus a large generated corpus, beside the same scorer against the dev corpus alone.

    python bench/scale_quality.py --corpus bench/data/gen100k --index bench/data/idx-dev-100k \\
        [--skip-build]

1. build ONE index of the dev corpus (shared/eval/dev/corpus) and every report of --corpus, in
   this process (``build_index_folder``, 2 workers); the dev ids (``gongshang-ju``, ...) and
   the generated ones (``gen-000123``) cannot clash;
2. ``chachong serve --index INDEX --workers 2`` and
   ``python3 shared/eval/score.py shared/eval/dev --url .../v1/check --json``;
3. the baseline: ``chachong serve --corpus shared/eval/dev/corpus --workers 2`` and the
   same scorer.

The servers run one after the other, so neither takes CPU from the other's timings. The generated
reports copy whole template paragraphs now and then (the templates are the dev corpus), so the
large index holds many near-duplicates of the true sources: that is what attribution and
precision are measured against here.

Prints one JSON line on stdout (progress on stderr): for both runs precision, recall, plagdet,
granularity, attribution, false-alarm paragraphs and median seconds per case, recall_loss
(baseline recall - scale recall) and the build figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import index_figures, log, running_server

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"  # beside the clone
DEV = EVAL / "dev"
SCORER = EVAL / "score.py"
KEPT = ("precision", "recall", "f1", "plagdet", "granularity", "attribution",
        "false_alarm_paragraphs", "median_case_seconds", "total_seconds", "cases", "errors",
        "recall_by_obfuscation")


def cpu_seconds() -> float:
    """This process and its reaped children (the build's worker pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def build(dev_corpus: Path, corpus: Path, index: Path, workers: int) -> dict:
    """One index of both folders, streamed: the dev documents first, then the generated."""
    from app.core.corpus import corpus_files, iter_corpus
    from app.storage import build_index_folder

    dev_files, gen_files = corpus_files(dev_corpus), corpus_files(corpus)
    total = len(dev_files) + len(gen_files)
    refs = itertools.chain(iter_corpus(dev_corpus, dev_files), iter_corpus(corpus, gen_files))
    done = 0
    t0, cpu0 = time.perf_counter(), cpu_seconds()

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 5000 == 0 or done == total:
            rate = done / (time.perf_counter() - t0)
            log(f"indexed {done}/{total} ({rate:.0f}/s)")

    log(f"building {index} from {total} references with {workers} workers")
    count = build_index_folder(refs, index, workers=workers, progress=progress)
    wall = time.perf_counter() - t0
    peak_kb = max(resource.getrusage(who).ru_maxrss  # this process or its largest worker
                  for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"build_s": round(wall, 1), "build_cpu_ratio": round((cpu_seconds() - cpu0) / wall, 2),
            "build_peak_rss_mb": round(peak_kb / 1024), "built_references": count}


def score(url: str, jobs: int, timeout: float) -> dict:
    """The evaluation's own scorer, against a running server."""
    cmd = ["python3", str(SCORER), str(DEV), "--url", f"{url}/v1/check", "--json",
           "--jobs", str(jobs), "--timeout", str(timeout)]
    log("scoring: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: figures[k] for k in KEPT if k in figures}


def scored_server(workdir: Path, source: list[str], workers: int, jobs: int,
                  ready_timeout: float, case_timeout: float) -> dict:
    with running_server(workdir, source, workers, ready_timeout) as server:
        figures = score(server.url, jobs, case_timeout)
        memory = server.memory()
    log(f"scored: {figures}")
    return {**figures, "ready_s": round(server.ready_s, 1), "rss_mb": memory["rss_mb"],
            "pss_mb": memory["pss_mb"]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="folder of generated reports")
    ap.add_argument("--index", type=Path, required=True, help="index folder to build and serve")
    ap.add_argument("--skip-build", action="store_true", help="serve the index as it is")
    ap.add_argument("--dev", type=Path, default=DEV / "corpus", help="the dev reference corpus")
    ap.add_argument("--build-workers", type=int, default=2)
    ap.add_argument("--server-workers", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2, help="cases the scorer sends at once")
    ap.add_argument("--case-timeout", type=float, default=300)
    ap.add_argument("--ready-timeout", type=float, default=600)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a plain `kill` should still run the finally blocks that stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.perf_counter()
    out: dict[str, object] = {"load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    if not args.skip_build:
        out.update(build(args.dev, args.corpus, args.index, args.build_workers))
    idx = index_figures(args.index)
    out.update({k: idx[k] for k in ("references", "units", "index_bytes")})
    with tempfile.TemporaryDirectory(prefix="chachong-scale-quality-") as tmp:
        workdir = Path(tmp)
        scale = scored_server(workdir, ["--index", str(args.index)], args.server_workers,
                              args.jobs, args.ready_timeout, args.case_timeout)
        baseline = scored_server(workdir, ["--corpus", str(args.dev)], args.server_workers,
                                 args.jobs, args.ready_timeout, args.case_timeout)
    out["scale"] = scale
    out["baseline"] = baseline
    out["recall_loss"] = round(baseline["recall"] - scale["recall"], 4)
    out["precision_loss"] = round(baseline["precision"] - scale["precision"], 4)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
