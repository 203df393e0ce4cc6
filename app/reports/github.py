"""GitHub Actions workflow commands: one ::warning (or ::error when over the threshold) a span."""

from __future__ import annotations

from app.core.schema import CheckResult
from app.reports.positions import LineIndex
from app.reports.sarif import describe


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def to_github(path: str, text: str, result: CheckResult) -> list[str]:
    lines = LineIndex(text)
    command = "error" if result.verdict == "fail" else "warning"
    out = []
    for para in result.paragraphs:
        for m in para.matches:
            kind = "notice" if m.excluded else command
            line, col = lines.position(m.start)
            end_line, end_col = lines.position(m.end)
            title = (f"formula ({m.formula_refs} references)" if m.formula_refs is not None
                     else f"copied from {m.source.id}")
            note = f" [not counted: {m.excluded}]" if m.excluded else ""
            message = f"{describe(m)} of {m.source.title}{note}: {m.text[:80]}"
            props = (f"file={_escape_property(path)},line={line},col={col},endLine={end_line},"
                     f"endColumn={end_col},title={_escape_property(title)}")
            out.append(f"::{kind} {props}::{_escape_data(message)}")
    return out
