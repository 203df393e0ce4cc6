"""Two versions of the service side by side: each serves its own copy of a data folder (one
worker), and every query report is checked through HTTP by both, the order alternating, so that a
noisy machine slows both alike. ``python bench/api_versions.py --data A --code TREE_A --data B
--code TREE_B`` (a tree is a checkout whose ``app`` the server imports; the copies must not
share files that are written: the history, the audit trail, the log and the lock)."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import httpx
from growth import serving
from scale import ROOT, load_queries, percentiles_ms

from app.storage import MergePolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--code", type=Path, action="append", required=True)
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "data" / "genq")
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench" / "data" / "gen300k",
                        help="the folder the queries' spliced sources come from")
    parser.add_argument("--n", type=int, default=200, help="reports timed")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    if len(args.data) != 2 or len(args.code) != 2:
        parser.error("give --data and --code twice: one of each for each version")
    queries = load_queries(args.queries, args.corpus, 11, limit=100_000)
    queries = queries[: args.warmup + args.n]
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as work:
        servers = []
        for data, code in zip(args.data, args.code, strict=True):
            os.environ["PYTHONPATH"] = str(code.resolve())  # the server imports this tree's app
            servers.append(stack.enter_context(
                serving(Path(work), data, 1, MergePolicy(quiet_seconds=0))))
        took: list[list[float]] = [[], []]
        with httpx.Client(timeout=120) as client:
            for i, query in enumerate(queries):
                for k in ((0, 1) if i % 2 else (1, 0)):
                    start = time.perf_counter()
                    answer = client.post(f"{servers[k].url}/v1/check", json={"text": query.text})
                    if i >= args.warmup:
                        took[k].append(time.perf_counter() - start)
                    answer.raise_for_status()
    for code, seconds in zip(args.code, took, strict=True):
        ms = percentiles_ms(seconds)
        print(f"{code}: p50 {ms['p50']:.1f} ms, p99 {ms['p99']:.1f} ms, "
              f"mean {ms['mean']:.1f} ms")
    ratios = sorted(b / a for a, b in zip(took[0], took[1], strict=True))
    print(f"second / first, the median of each report's ratio: {ratios[len(ratios) // 2]:.2f}")


if __name__ == "__main__":
    main()
