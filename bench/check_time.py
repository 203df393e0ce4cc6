#!/usr/bin/env python3
"""Time of one check, in this process: wall and CPU per report, p50 and p90.

    python bench/check_time.py                  # the dev set and its disguised sets
    python bench/check_time.py --index bench/data/idx10k --queries bench/data/genq
    python bench/check_time.py --index A --index B --queries bench/data/genq

The first form builds the dev corpus (../shared/eval/dev beside the clone) in memory and checks
every case of the dev set and of each set bench/make_disguised_set.py makes from it; the second
loads a saved index (chachong index build, or a server's data/index) and checks every .txt of a
folder. Each report is checked after WARMUP checks, once; CPU time is this process's (other jobs
on a shared machine lengthen the wall time, not it). Prints one JSON line per set, with the
load average. Given several indexes (the same references laid out otherwise: merged into fewer
segments, say), each report is checked against each in turn, so that the machine's noise falls
on all alike; each line also gives the time spent looking keys up, the median over reports
of the time against this index divided by the time against the first, and how many reports'
results differ from those against the first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.core import build_index, check_text, load_corpus
from app.core.index import Index

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "dev"
WARMUP = 5


def _cases(set_dir: Path) -> list[str]:
    texts = []
    for line in (set_dir / "truth.jsonl").open(encoding="utf-8"):
        truth = json.loads(line)
        texts.append((set_dir / "cases" / truth["case"]).read_bytes().decode(truth["encoding"]))
    return texts


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(name: str, texts: list[str], index: Index) -> dict:
    for text in texts[:WARMUP]:
        check_text(text, index)
    wall, cpu = [], []
    for text in texts:
        w0, c0 = time.perf_counter(), time.process_time()
        check_text(text, index)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"set": name, "reports": len(texts),
            "mean_chars": round(statistics.mean(len(t) for t in texts)),
            "wall_ms_p50": round(1000 * _percentile(wall, 0.5), 1),
            "wall_ms_p90": round(1000 * _percentile(wall, 0.9), 1),
            "cpu_ms_p50": round(1000 * _percentile(cpu, 0.5), 1),
            "cpu_ms_p90": round(1000 * _percentile(cpu, 0.9), 1),
            "load_average": round(os.getloadavg()[0], 2)}


def side_by_side(paths: list[Path], texts: list[str]) -> list[dict]:
    from app.core.index import MultiIndex
    from app.core.seeds import Hits
    from app.storage import LiveIndex

    class Timed(MultiIndex):
        """An index that counts the time spent in its lookups."""

        looking = 0.0

        def lookup(self, chars: str, sigs: Any, per_unit: int) -> tuple[Hits, list[Any]]:
            started = time.perf_counter()
            try:
                return super().lookup(chars, sigs, per_unit)
            finally:
                self.looking += time.perf_counter() - started

    lives = [LiveIndex(p, slot_base=0, readonly=True) for p in paths]
    indexes = [Timed(live.parts()) for live in lives]
    for text in texts[:WARMUP]:
        for index in indexes:
            check_text(text, index)
    for index in indexes:
        index.looking = 0.0
    wall: list[list[float]] = [[] for _ in paths]
    differ = [0] * len(paths)  # reports whose result is not the first index's
    for text in texts:
        results = []
        for index, times in zip(indexes, wall, strict=True):
            started = time.perf_counter()
            results.append(check_text(text, index))
            times.append(time.perf_counter() - started)
        for k, result in enumerate(results):
            differ[k] += result != results[0]
    return [{"index": str(path), "segments": len(live.manifest.segments), "reports": len(texts),
             "wall_ms_p50": round(1000 * _percentile(times, 0.5), 1),
             "wall_ms_p90": round(1000 * _percentile(times, 0.9), 1),
             "lookup_ms_mean": round(1000 * index.looking / len(texts), 1),
             "time_over_first_median": round(statistics.median(
                 a / b for a, b in zip(times, wall[0], strict=True)), 3),
             "results_differing_from_first": changed,
             "load_average": round(os.getloadavg()[0], 2)}
            for path, live, index, times, changed
            in zip(paths, lives, indexes, wall, differ, strict=True)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", type=Path, default=DEV, help="an evaluation set (corpus/, cases/)")
    ap.add_argument("--index", type=Path, action="append",
                    help="a saved index to check against instead (several: side by side)")
    ap.add_argument("--queries", type=Path, help="with --index: a folder of .txt reports")
    args = ap.parse_args()
    if args.index is not None:
        from app.core.index import MultiIndex
        from app.storage import LiveIndex

        if args.queries is None:
            ap.error("--index needs --queries")
        texts = [p.read_text(encoding="utf-8") for p in sorted(args.queries.glob("*.txt"))]
        if len(args.index) > 1:
            for line in side_by_side(args.index, texts):
                print(json.dumps(line, ensure_ascii=False))
            return 0
        saved = MultiIndex(LiveIndex(args.index[0], slot_base=0, readonly=True).parts())
        print(json.dumps(timed(args.queries.name, texts, saved), ensure_ascii=False))
        return 0
    index = build_index(load_corpus(args.set / "corpus"))
    print(json.dumps(timed(args.set.name, _cases(args.set), index), ensure_ascii=False),
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_disguised_set.py"),
                        str(args.set), "--out", tmp, "--kind", "all"], check=True,
                       capture_output=True)
        for kind in sorted(p.name for p in Path(tmp).iterdir()):
            print(json.dumps(timed(kind, _cases(Path(tmp) / kind), index), ensure_ascii=False),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
