#!/usr/bin/env python3
"""How much original text is flagged when the corpus overlaps naturally (real reports).

The 20 provincial government work reports share a great deal of officialese but copy nothing
from each other. In four rotations, 15 are the corpus and the other 5 are checked against it.
A verbatim run of 13+ normalised characters counts as a true repeat (as the evaluation's
"dontcare" does); everything else that is flagged is a false alarm. Prints one JSON line.

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
    judged = flagged = paragraphs = false_alarms = 0
    seconds = []
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
            for para in result.paragraphs:
                for m in para.matches:
                    flag[m.start : m.end] = [True] * (m.end - m.start)
            for i, ch in enumerate(q.text):
                if not repeat[i] and not ch.isspace():
                    judged += 1
                    flagged += flag[i]
            pos = 0
            for line in q.text.split("\n"):
                s, e = pos, pos + len(line)
                pos = e + 1
                if e - s < PARA_MIN:
                    continue
                paragraphs += 1
                bad = sum(1 for i in range(s, e) if flag[i] and not repeat[i])
                false_alarms += bad >= PARA_FLAG * (e - s)
    print(json.dumps({
        "reports": len(seconds), "false_alarm_char_share": round(flagged / judged, 4),
        "false_alarm_chars": flagged, "false_alarm_paragraphs": round(false_alarms / paragraphs, 4),
        "median_check_seconds": round(sorted(seconds)[len(seconds) // 2], 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
