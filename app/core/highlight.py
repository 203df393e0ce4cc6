"""Format-agnostic highlighting: a text and its matches -> runs of plain and copied text.

The terminal, HTML and JSON renderers all draw from these runs, so they agree on what is marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Match


@dataclass(frozen=True)
class Run:
    text: str
    start: int
    end: int
    match: Match | None  # the match that covers this run, None for original text


def highlight(text: str, start: int, end: int, matches: list[Match]) -> list[Run]:
    """Split text[start:end] into runs; matches must not overlap (the checker guarantees it)."""
    runs: list[Run] = []
    pos = start
    for m in sorted(matches, key=lambda m: m.start):
        a, b = max(m.start, pos), min(m.end, end)
        if a >= b:
            continue
        if a > pos:
            runs.append(Run(text[pos:a], pos, a, None))
        runs.append(Run(text[a:b], a, b, m))
        pos = b
    if pos < end:
        runs.append(Run(text[pos:end], pos, end, None))
    return runs
