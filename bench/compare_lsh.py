#!/usr/bin/env python3
"""Our flat-array BandTable against datasketch's in-memory MinHashLSH, on the same units.

Every report is analysed into sentence units and every unit is signed once. A fixed-seed set of
held-out reports is not indexed; the rest go into both indexes. Both are built twice: once
untraced for insert time, once under ``tracemalloc`` for the bytes each index retains (tracing
slows allocation-heavy code, so it would distort the timings). Queries are the same units for
both, half indexed and half held out, and every candidate set is compared. Prints one JSON line;
progress goes to stderr.

    python bench/generate_corpus.py --n 10000 --seed 1 --out bench/data/gen10k
    python bench/compare_lsh.py --corpus bench/data/gen10k --queries 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from datasketch import LeanMinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from app.core.document import analyse
from app.core.fingerprint import NUM_PERM, SCHEME, SEED, signatures
from app.core.lsh import BandTable, lsh_params

THRESHOLD = 0.3  # the index's LSH threshold (app.core.index.LSH_THRESHOLD)
SAMPLE_SEED = 7  # held-out reports and query units are the same in every run
SIGN_CHUNK = 50_000  # units signed per call, only so that progress can be shown
WRAP_CHUNK = 20_000  # MinHash objects made ahead of a timed insert batch


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_reports(folder: Path, limit: int | None) -> list[str]:
    paths = sorted(folder.glob("*.txt"))[:limit]
    return [p.read_text(encoding="utf-8") for p in paths]


def report_units(texts: list[str]) -> list[list[str]]:
    """Normalised characters of each report's units (the documents themselves are dropped)."""
    out = []
    for i, text in enumerate(texts):
        doc = analyse(text)
        out.append([doc.unit_chars(u) for u in doc.units])
        if (i + 1) % 1000 == 0:
            log(f"analysed {i + 1}/{len(texts)} reports")
    return out


def sign_all(units: list[str]) -> tuple[np.ndarray, float]:
    """Signatures of all units and the seconds they took."""
    sigs = np.empty((len(units), NUM_PERM), dtype=np.uint32)
    t0 = time.perf_counter()
    for a in range(0, len(units), SIGN_CHUNK):
        sigs[a : a + SIGN_CHUNK] = signatures(units[a : a + SIGN_CHUNK])
        log(f"signed {min(a + SIGN_CHUNK, len(units))}/{len(units)} units")
    return sigs, time.perf_counter() - t0


def minhash(sig: np.ndarray) -> LeanMinHash:
    # LeanMinHash keeps the hash values only, so wrapping a signature costs no permutations
    return LeanMinHash(seed=SEED, hashvalues=sig, scheme=SCHEME)


def check_params() -> tuple[int, int]:
    ours = lsh_params(THRESHOLD, NUM_PERM)
    theirs = _optimal_param(THRESHOLD, NUM_PERM, 0.5, 0.5)
    assert ours == tuple(theirs), f"band/row choice differs: ours {ours}, datasketch {theirs}"
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == ours, f"MinHashLSH picked {(lsh.b, lsh.r)}, not {ours}"
    return ours


def build_datasketch_timed(sigs: np.ndarray) -> tuple[MinHashLSH, float]:
    """Index every row; only ``insert`` is timed, the MinHash wrapping is done between batches."""
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    seconds = 0.0
    for a in range(0, len(sigs), WRAP_CHUNK):
        batch = [(i, minhash(sigs[i])) for i in range(a, min(a + WRAP_CHUNK, len(sigs)))]
        t0 = time.perf_counter()
        for key, m in batch:  # keys are known unique, and BandTable.add does not check either
            lsh.insert(key, m, check_duplication=False)
        seconds += time.perf_counter() - t0
        if (a // WRAP_CHUNK) % 10 == 9:
            log(f"datasketch: inserted {a + len(batch)}/{len(sigs)}")
    return lsh, seconds


def build_datasketch(sigs: np.ndarray) -> MinHashLSH:
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    for i in range(len(sigs)):
        lsh.insert(i, minhash(sigs[i]), check_duplication=False)
    return lsh


def build_ours(sigs: np.ndarray, bands: int, rows: int) -> BandTable:
    # one bulk add, as a saved index is built: the keys are sorted once
    table = BandTable(bands, rows)
    table.add(np.arange(len(sigs), dtype=np.uint32), sigs)
    table.query(sigs[:1])  # the first query makes the search directory: counted as the index's
    return table


def array_bytes(table: BandTable) -> int:
    """Bytes of the table's key and unit-id arrays."""
    keys, units = table.table.merged()
    return keys.nbytes + units.nbytes


def retained_bytes(build: Callable[[], object]) -> int:
    """Bytes still allocated after ``build`` once its temporaries are collected. Everything made
    before the call (the signatures) is outside the trace; the index is freed before returning."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = build()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del index
    gc.collect()
    return after - before


def sample_queries(n_indexed: int, n_held: int, count: int) -> np.ndarray:
    """Row numbers into the signature array: half indexed units, half held-out units."""
    rng = np.random.default_rng(SAMPLE_SEED)
    half = count // 2
    inside = rng.choice(n_indexed, size=half, replace=half > n_indexed)
    outside = rng.choice(n_held, size=count - half, replace=count - half > n_held)
    return np.concatenate([inside, n_indexed + outside])


def time_each(queries: Iterable[object],
              run: Callable[[object], object]) -> tuple[list, np.ndarray]:
    """Results and per-call microseconds of ``run`` over the queries."""
    results, micros = [], []
    for q in queries:
        t0 = time.perf_counter_ns()
        results.append(run(q))
        micros.append((time.perf_counter_ns() - t0) / 1000)
    return results, np.array(micros)


def time_batched(table: BandTable, sigs: np.ndarray,
                 spans: list[tuple[int, int]]) -> tuple[dict[int, np.ndarray], float]:
    """One query call per held-out report; results by signature row and microseconds per unit."""
    found: dict[int, np.ndarray] = {}
    t0 = time.perf_counter_ns()
    for a, b in spans:
        found.update(zip(range(a, b), (units for units, _ in table.query(sigs[a:b])),
                         strict=True))
    units = sum(b - a for a, b in spans)
    return found, (time.perf_counter_ns() - t0) / 1000 / max(units, 1)


def mismatches(expected: dict[int, set[int]], got: dict[int, np.ndarray]) -> int:
    """Queries whose candidate sets differ; with 64-bit band keys only a key collision can add a
    candidate, so any difference is shown on stderr rather than stopping the run."""
    bad = 0
    for row, want in expected.items():
        have = set(got[row].tolist())
        if have != want:
            bad += 1
            log(f"mismatch at unit {row}: only ours {sorted(have - want)[:5]}, "
                f"only datasketch {sorted(want - have)[:5]}")
    return bad


def stats(micros: np.ndarray, prefix: str) -> dict[str, float]:
    return {f"{prefix}_p50": round(float(np.percentile(micros, 50)), 2),
            f"{prefix}_p99": round(float(np.percentile(micros, 99)), 2),
            f"{prefix}_mean": round(float(micros.mean()), 2)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder of .txt reports")
    parser.add_argument("--limit", type=int, default=None, help="use the first N reports")
    parser.add_argument("--queries", type=int, default=1000, help="single queries to time")
    parser.add_argument("--held-out", type=int, default=100,
                        help="reports left out of the index (at most a fifth of them)")
    return parser.parse_args()


def split_reports(units: list[list[str]], held: int) -> tuple[list[list[str]], list[list[str]]]:
    """Indexed and held-out reports, the held-out ones chosen with a fixed seed."""
    held = max(1, min(held, len(units) // 5))
    out = set(np.random.default_rng(SAMPLE_SEED).choice(len(units), size=held, replace=False))
    return ([u for i, u in enumerate(units) if i not in out],
            [u for i, u in enumerate(units) if i in out])


def main() -> int:
    args = parse_args()
    bands, rows = check_params()
    texts = read_reports(args.corpus, args.limit)
    if len(texts) < 2:
        raise SystemExit(f"need at least 2 .txt reports in {args.corpus}")
    indexed, held = split_reports(report_units(texts), args.held_out)
    del texts
    n_indexed = sum(map(len, indexed))
    n_held = sum(map(len, held))
    log(f"{len(indexed)} reports / {n_indexed} units indexed, "
        f"{len(held)} reports / {n_held} units held out; {bands} bands x {rows} rows")
    sigs, sign_seconds = sign_all([c for r in indexed + held for c in r])
    spans, a = [], n_indexed  # held-out reports as row ranges of sigs
    for report in held:
        spans.append((a, a + len(report)))
        a += len(report)
    index_sigs = sigs[:n_indexed]
    rows_q = sample_queries(n_indexed, n_held, args.queries)

    lsh, ds_seconds = build_datasketch_timed(index_sigs)
    query_mh = [minhash(sigs[r]) for r in rows_q]
    ds_found, ds_micros = time_each(query_mh, lsh.query)
    expected = {int(r): set(f) for r, f in zip(rows_q, ds_found, strict=True)}
    del lsh, query_mh, ds_found
    gc.collect()
    log(f"datasketch: {ds_seconds:.1f} s to insert, {ds_micros.mean():.1f} us per query")

    t0 = time.perf_counter()
    table = build_ours(index_sigs, bands, rows)
    ours_seconds = time.perf_counter() - t0
    ours_found, ours_micros = time_each((sigs[r][None, :] for r in rows_q),
                                        lambda q: table.query(q)[0][0])
    batched, batched_micros = time_batched(table, sigs, spans)
    arrays = array_bytes(table)
    log(f"ours: {ours_seconds:.1f} s to insert, {ours_micros.mean():.1f} us per query")

    got = dict(zip(rows_q.tolist(), ours_found, strict=True))
    single_bad = mismatches(expected, got)
    batched_bad = mismatches({r: w for r, w in expected.items() if r in batched}, batched)

    log("measuring retained memory (traced rebuilds)")
    ds_bytes = retained_bytes(lambda: build_datasketch(index_sigs))
    ours_bytes = retained_bytes(lambda: build_ours(index_sigs, bands, rows))

    n = max(n_indexed, 1)
    result = {
        "units": n_indexed, "reports": len(indexed),
        "held_out_reports": len(held), "held_out_units": n_held,
        "bands": bands, "rows": rows, "queries": len(rows_q),
        "datasketch_bytes_per_unit": round(ds_bytes / n, 1),
        "ours_bytes_per_unit": round(ours_bytes / n, 1),
        "ours_array_bytes_per_unit": round(arrays / n, 1),
        "memory_ratio": round(ds_bytes / max(ours_bytes, 1), 2),
        "datasketch_insert_us": round(ds_seconds / n * 1e6, 2),
        "ours_insert_us": round(ours_seconds / n * 1e6, 2),
        **stats(ds_micros, "datasketch_query_us"),
        **stats(ours_micros, "ours_query_us"),
        "ours_batched_query_us_per_unit": round(batched_micros, 2),
        "query_ratio": round(float(ds_micros.mean() / ours_micros.mean()), 2),
        "mean_candidates": round(float(np.mean([len(e) for e in expected.values()])), 2),
        "candidate_mismatches": single_bad,
        "batched_mismatches": batched_bad,
        "signature_seconds": round(sign_seconds, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
