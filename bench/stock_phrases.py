#!/usr/bin/env python3
"""What automatic stock-phrase suppression does on real reports with natural overlap.

15 of the 20 provincial government work reports are the corpus, the other 5 are checked against
it: once with suppression off, once for each share (formulas off throughout, to measure this rule
alone). Reads the reports beside the clone (../shared/corpora/provincial-2025). Prints one JSON
line: the share of characters that count as copied, how much suppression lowers it, and the
phrases it suppressed most often.

    python bench/stock_phrases.py [--shares 0.3 0.5]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from app.core import CheckOptions, build_index, check_text, load_corpus
from app.core.exclusions import Exclusions

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "provincial-2025"


def run(refs: list, share: float | None) -> tuple[float, float, Counter]:
    index = build_index(refs[:15])
    # the common-phrase rule alone: formulas (near-identical passages many references hold,
    # which bench/natural_overlap.py measures) off
    options = CheckOptions(exclusions=Exclusions(stock_phrases=False, common_share=share,
                                                 formulas=None))
    chars = counted = raw = 0
    phrases: Counter = Counter()
    for ref in refs[15:]:
        result = check_text(ref.text, index, options)
        chars += result.chars
        counted += result.copied_chars
        raw += result.raw_copied_chars
        for para in result.paragraphs:
            phrases.update(m.text for m in para.matches if m.excluded == "common_phrase")
    return counted / chars, raw / chars, phrases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shares", type=float, nargs="+", default=[0.3, 0.5])
    args = ap.parse_args()
    refs = load_corpus(CORPUS)
    off, _, _ = run(refs, None)
    out: dict = {"checked": 5, "corpus": 15, "flagged_share_without": round(off, 4)}
    for share in args.shares:
        counted, _, phrases = run(refs, share)
        out[f"share_{share}"] = {
            "flagged_share": round(counted, 4),
            "lowered_by": round(off - counted, 4),
            "lowered_by_relative": round((off - counted) / off, 3) if off else 0.0,
            "top_suppressed": [p for p, _ in phrases.most_common(12)],
        }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
