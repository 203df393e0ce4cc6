"""What every command shares: exit codes, output formats, errors on standard error, settings.

Light on purpose: the commands' modules import the detection core, the storage engine and the
report writers only when they run, so ``chachong --help`` starts in a fraction of a second.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from app.settings import Settings

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


class Format(StrEnum):
    text = "text"
    json = "json"
    html = "html"
    pdf = "pdf"
    sarif = "sarif"
    github = "github"


def err() -> Console:
    """A console on standard error (rich is imported when something is printed). Lines are
    never broken at the terminal's width: a status line stays one line for grep and for logs."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    err().print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def settings() -> Settings:
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        raise fail(f"bad CHACHONG_* setting: {exc}") from None
