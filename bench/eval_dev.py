#!/usr/bin/env python3
"""Detection quality on the evaluation sets, scored by the product's own judge (score.py).

    python bench/eval_dev.py                 # the dev set, through the CLI
    python bench/eval_dev.py --disguised     # plus the harder disguises of make_disguised_set.py
    python bench/eval_dev.py --url http://127.0.0.1:8000/v1/check   # through a running server

Reads the evaluation material beside the clone (../shared/eval). Prints one JSON line of figures
per set. The patchwork set also gets ``sentence_attribution``: the share of its stitched
sentences credited to their own source (at least 90 % of each one's flagged characters), from
the same checker's answers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCORER = SHARED / "eval" / "score.py"
CMD = "chachong check --corpus {corpus} --format json {file}"
CREDITED = 0.9  # a sentence is credited to its source when this share of its flags are


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def score(set_dir: Path, url: str | None) -> dict:
    how = ["--url", url] if url else ["--cmd", CMD]
    out = subprocess.run([sys.executable, str(SCORER), str(set_dir), *how, "--json"],
                         capture_output=True, text=True, env=_env(), check=True)
    return json.loads(out.stdout)


def _scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("score", SCORER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sentence_attribution(set_dir: Path, url: str | None) -> dict:
    """Per stitched sentence of a patchwork set: found, and credited to its own source."""
    scorer = _scorer()
    truths = [json.loads(line) for line in (set_dir / "truth.jsonl").open(encoding="utf-8")]
    corpus = (set_dir / "corpus").resolve()
    os.environ["PATH"] = _env()["PATH"]

    def one(truth: dict) -> list[tuple[bool, bool]]:
        file = (set_dir / "cases" / truth["case"]).resolve()
        result = (scorer.run_url(url, file, 120) if url
                  else scorer.run_cmd(CMD, corpus, file, 120))
        found = scorer.matches_of(result)
        out = []
        for span in truth["spans"]:
            flags = [src for s, e, src in found for i in range(max(s, span["start"]),
                                                                min(e, span["end"]))]
            right = sum(src == span["source"] for src in flags)
            out.append((bool(flags), bool(flags) and right >= CREDITED * len(flags)))
        return out

    with ThreadPoolExecutor(2) as pool:
        sentences = [s for case in pool.map(one, truths) for s in case]
    found = [credited for was_found, credited in sentences if was_found]
    return {"sentences": len(sentences), "sentences_found": len(found),
            "sentence_attribution": round(sum(found) / len(found), 4) if found else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--set", type=Path, default=SHARED / "eval" / "dev")
    ap.add_argument("--disguised", action="store_true", help="also score the disguised sets")
    ap.add_argument("--url", help="score a running server instead of the CLI")
    args = ap.parse_args()
    print(json.dumps({"set": args.set.name, **score(args.set, args.url)}, ensure_ascii=False),
          flush=True)
    if args.disguised:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, str(ROOT / "bench" / "make_disguised_set.py"),
                            str(args.set), "--out", tmp, "--kind", "all"], check=True,
                           capture_output=True)
            for kind in sorted(p.name for p in Path(tmp).iterdir()):
                figures = score(Path(tmp) / kind, args.url)
                if kind == "patchwork":
                    figures.update(sentence_attribution(Path(tmp) / kind, args.url))
                print(json.dumps({"set": kind, **figures}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
