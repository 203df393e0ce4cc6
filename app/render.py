"""Terminal rendering of a result (rich): summary, paragraph table, highlighted copied spans.

Colour only on a terminal and never when NO_COLOR is set (rich honours both).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.core.highlight import highlight
from app.core.schema import CheckResult

_STYLES = ["bold red", "bold magenta", "bold yellow", "bold cyan", "bold green"]


def render_text(result: CheckResult, name: str, console: Console, source_text: str = "") -> None:
    verdict = "[red]FAIL[/]" if result.verdict == "fail" else "[green]PASS[/]"
    console.print(f"[bold]{name}[/]: copy ratio {result.copy_ratio:.1%} "
                  f"(threshold {result.threshold:.0%}) {verdict}, "
                  f"{result.copied_chars}/{result.chars} characters copied", highlight=False)
    style_of = {s.id: _STYLES[i % len(_STYLES)] for i, s in enumerate(result.sources)}
    if result.sources:
        table = Table("source", "title", "share", "characters", title="sources")
        for s in result.sources:
            table.add_row(Text(s.id, style=style_of[s.id]), s.title, f"{s.copy_ratio:.1%}",
                          str(s.copied_chars))
        console.print(table)
    for para in result.paragraphs:
        if not para.matches:
            continue
        console.print(Text(f"\n¶{para.index + 1}  {para.copy_ratio:.0%} copied", style="bold"))
        for m in para.matches:
            line = Text("  ")
            line.append(m.text, style=style_of.get(m.source.id, "bold red"))
            line.append(f"  <- {m.source.id} [{m.source.start}:{m.source.end}] "
                        f"similarity {m.similarity:.2f}", style="dim")
            console.print(line)


def paragraph_runs(result: CheckResult, text: str) -> list[list[tuple[str, str | None]]]:
    """(text, source id or None) runs per paragraph, for plain renderers and tests."""
    return [[(r.text, r.match.source.id if r.match else None)
             for r in highlight(text, p.start, p.end, p.matches)] for p in result.paragraphs]
