"""What one audit entry costs: the synced SQLite commit every audited request waits for before its
answer goes out (the disk's fsync, not CPU). ``python bench/audit_write.py [--n 500]``"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.access import AuditLog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="entries to write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = AuditLog(Path(folder))
        took = []
        for i in range(args.n):
            start = time.perf_counter()
            log.record(key="0123456789ab", action="check", collection="templates",
                       target=f"check-{i}", client="127.0.0.1")
            took.append(time.perf_counter() - start)
    took.sort()
    print(f"{args.n} entries: median {statistics.median(took) * 1000:.2f} ms, "
          f"p99 {took[int(len(took) * 0.99) - 1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
