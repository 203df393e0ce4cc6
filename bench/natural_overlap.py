#!/usr/bin/env python3
"""How much original text is flagged when the corpus overlaps naturally (real reports), and
which formulas the checker names there.

The 20 provincial government work reports share a great deal of officialese but copy nothing
from each other. In four rotations, 15 are the corpus and the other 5 are checked against it.
A verbatim run of 13+ normalised characters counts as a true repeat (as the evaluation's
"dontcare" does); everything else that is flagged is natural reuse. A paragraph (20+
characters) is a false alarm when 10 % or more of it is flagged outside true repeats (as
score.py judges): by any match, and by a *counted* match (formulas, stock and common phrases
are named and shown but not counted). Reads the reports beside the clone
(../shared/corpora/provincial-2025). Prints one JSON line of figures, then the formulas found,
one a line: how many of the 15 references hold it, in how many checked reports, its text.

    python bench/natural_overlap.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from app.core import CheckOptions, build_index, check_text, load_corpus
from app.core.document import analyse
from app.core.normalize import normalize

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "provincial-2025"
PARA_MIN, PARA_FLAG = 20, 0.10  # as score.py judges false-alarm paragraphs
RUN = 13  # a shared verbatim run this long is a true repeat


def windows(texts: list[str]) -> set[str]:
    """Every RUN-character window of the normalised texts."""
    out: set[str] = set()
    for text in texts:
        chars = normalize(text).chars
        out.update(chars[i : i + RUN] for i in range(len(chars) - RUN + 1))
    return out


def main() -> int:
    refs = load_corpus(CORPUS)
    options = CheckOptions()
    judged = flagged = counted_chars = paragraphs = false_alarms = counted_alarms = 0
    seconds = []
    formulas: dict[str, dict] = {}  # normalised text: text, refs, reports
    for rot in range(4):
        queries = refs[rot * 5 : rot * 5 + 5]
        corpus = refs[: rot * 5] + refs[rot * 5 + 5 :]
        index = build_index(corpus)
        shared = windows([r.text for r in corpus])
        for q in queries:
            t0 = time.perf_counter()
            result = check_text(q.text, index, options)
            seconds.append(time.perf_counter() - t0)
            doc = analyse(q.text)
            repeat = [False] * len(q.text)
            chars = doc.norm.chars
            for i in range(len(chars) - RUN + 1):
                if chars[i : i + RUN] in shared:
                    a, b = doc.norm.original_span(i, i + RUN)
                    repeat[a:b] = [True] * (b - a)
            flag = [False] * len(q.text)
            counts = [False] * len(q.text)
            for para in result.paragraphs:
                for m in para.matches:
                    flag[m.start : m.end] = [True] * (m.end - m.start)
                    if m.excluded is None:
                        counts[m.start : m.end] = [True] * (m.end - m.start)
            for f in result.formulas:
                entry = formulas.setdefault(normalize(f.text).chars,
                                            {"text": f.text, "refs": 0, "reports": set()})
                entry["refs"] = max(entry["refs"], f.refs)
                entry["reports"].add(q.id)
            for i, ch in enumerate(q.text):
                if not repeat[i] and not ch.isspace():
                    judged += 1
                    flagged += flag[i]
                    counted_chars += counts[i]
            pos = 0
            for line in q.text.split("\n"):
                s, e = pos, pos + len(line)
                pos = e + 1
                if e - s < PARA_MIN:
                    continue
                paragraphs += 1
                least = PARA_FLAG * (e - s)
                false_alarms += sum(flag[i] and not repeat[i] for i in range(s, e)) >= least
                counted_alarms += sum(counts[i] and not repeat[i] for i in range(s, e)) >= least
    print(json.dumps({
        "reports": len(seconds), "paragraphs": paragraphs,
        "false_alarm_char_share": round(flagged / judged, 4),
        "counted_false_alarm_char_share": round(counted_chars / judged, 4),
        "false_alarm_paragraphs": round(false_alarms / paragraphs, 4),
        "counted_false_alarm_paragraphs": round(counted_alarms / paragraphs, 4),
        "formulas": len(formulas),
        "median_check_seconds": round(sorted(seconds)[len(seconds) // 2], 3),
    }))
    for f in sorted(formulas.values(), key=lambda f: (-f["refs"], -len(f["reports"]), f["text"])):
        print(f"{f['refs']:3d} refs  {len(f['reports']):2d} reports  {f['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
