"""Code-point offsets to 1-based line and column numbers (for SARIF and CI annotations)."""

from __future__ import annotations

from bisect import bisect_right


class LineIndex:
    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), both 1-based; columns count code points."""
        line = bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1
