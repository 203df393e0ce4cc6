#!/usr/bin/env python3
"""How fast the command line starts, as a CI step or a pre-commit hook runs it.

    python bench/cli_start.py [--runs 15]

Times, in one run and interleaved (so a busy machine slows all alike): ``ruff --version`` (a
native binary: the floor a process costs here), ``chachong --help``, and ``chachong check`` of
one dev report against the bundled corpus (the corpus's saved index and jieba's dictionary come
from the user's cache folder, made by a first run that is not counted). Prints one JSON line:
the median and the fastest wall time of each, in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORT = ROOT / "tests" / "fixtures" / "dev" / "cases" / "case-000.txt"


def timed(cmd: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHACHONG_")}
    started = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                          check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {done.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ruff = shutil.which("ruff", path=str(BIN)) or shutil.which("ruff")
    chachong = str(BIN / "chachong")
    commands = {"ruff --version": [str(ruff), "--version"],
                "chachong --help": [chachong, "--help"],
                "chachong check": [chachong, "check", str(REPORT)]}
    timed(commands["chachong check"])  # fills the cache folder, as a user's first run does
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    print(json.dumps({name: {"median_s": round(statistics.median(t), 3),
                             "fastest_s": round(min(t), 3)} for name, t in times.items()}
                     | {"runs": args.runs, "load": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
