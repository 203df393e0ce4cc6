#!/usr/bin/env python3
"""Detection quality on the evaluation sets, scored by the product's own judge (score.py).

    python bench/eval_dev.py                 # the dev set, through the CLI
    python bench/eval_dev.py --disguised     # plus the harder disguises of make_disguised_set.py
    python bench/eval_dev.py --url http://127.0.0.1:8000/v1/check   # through a running server

Prints one JSON line of figures per set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CMD = "chachong check --corpus {corpus} --format json {file}"


def score(set_dir: Path, url: str | None) -> dict:
    scorer = SHARED / "eval" / "score.py"
    how = ["--url", url] if url else ["--cmd", CMD]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run([sys.executable, str(scorer), str(set_dir), *how, "--json"],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", type=Path, default=SHARED / "eval" / "dev")
    ap.add_argument("--disguised", action="store_true", help="also score the disguised sets")
    ap.add_argument("--url", help="score a running server instead of the CLI")
    args = ap.parse_args()
    print(json.dumps({"set": args.set.name, **score(args.set, args.url)}, ensure_ascii=False))
    if args.disguised:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_disguised_set.py"),
                            str(args.set), "--out", tmp, "--kind", "all"], check=True,
                           capture_output=True)
            for kind in sorted(p.name for p in Path(tmp).iterdir()):
                print(json.dumps({"set": kind, **score(Path(tmp) / kind, args.url)},
                                 ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
