"""Terminal rendering of a result (rich): summary, sources, paragraph table, highlighted text.

Colour only on a terminal and never when NO_COLOR is set (rich honours both).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.core.highlight import highlight
from app.core.schema import CheckResult

_STYLES = ["bold red", "bold blue", "bold magenta", "bold yellow", "bold cyan", "bold green"]


def render_text(result: CheckResult, name: str, text: str, console: Console) -> None:
    verdict = "[red]FAIL[/]" if result.verdict == "fail" else "[green]PASS[/]"
    console.print(f"[bold]{name}[/]: copy ratio {result.copy_ratio:.1%} "
                  f"(threshold {result.threshold:.0%}) {verdict}, "
                  f"{result.copied_chars}/{result.chars} characters copied", highlight=False)
    if result.excluded_chars:
        left_out = ", ".join(f"{reason} {n}" for reason, n in result.excluded_chars.items())
        console.print(f"not counted: {left_out} (before exclusions {result.raw_copy_ratio:.1%})",
                      highlight=False)
    style_of = {s.id: _STYLES[i % len(_STYLES)] for i, s in enumerate(result.sources)}
    if result.sources:
        sources = Table("source", "title", "tags", "share", "characters", title="sources")
        for s in result.sources:
            tags = ", ".join(f"{k}={v}" for k, v in s.tags.items())
            sources.add_row(Text(s.id, style=style_of[s.id]), s.title, tags,
                            f"{s.copy_ratio:.1%}", str(s.copied_chars))
        console.print(sources)
    if result.formulas:
        formulas = Table("formula", "references", "share", "times", "counted",
                         title="formulas (passages many references hold: not copies)")
        for f in result.formulas:
            formulas.add_row(f.text, str(f.refs), f"{f.share:.0%}", str(f.occurrences),
                             "yes" if f.counted else "no")
        console.print(formulas)
    paragraphs = Table("¶", "characters", "copied", "closest source", title="paragraphs")
    for para in result.paragraphs:
        paragraphs.add_row(str(para.index + 1), str(para.chars), f"{para.copy_ratio:.0%}",
                           para.closest_source or "")
    console.print(paragraphs)
    for para in result.paragraphs:
        if not para.matches:
            continue
        line = Text(f"¶{para.index + 1}  ", style="bold")
        for run in highlight(text, para.start, para.end, para.matches):
            if run.match is None:
                line.append(run.text)
            else:
                m = run.match
                colour = style_of.get(m.source.id, "bold red")
                style = "dim" if m.excluded else f"{colour} underline"
                line.append("[", style="dim")
                line.append(run.text, style=style)
                what = (f"formula held by {m.formula_refs} references"
                        if m.formula_refs is not None else f"{m.source.id}, {'+'.join(m.kinds)}")
                note = f", not counted: {m.excluded}" if m.excluded else ""
                line.append(f"]<{what}{note}>", style="dim")
        console.print(line)
