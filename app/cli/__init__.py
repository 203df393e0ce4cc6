"""Command line: ``chachong check``, ``chachong index build|add|verify``, ``chachong serve``,
``chachong keys create|list|revoke`` and ``chachong audit export``.

Exit codes: 0 every report at or under the threshold, 1 any report over it, 2 bad input or usage.
The commands' signatures are here; what they do is in ``checking``, ``indexing`` and
``serving``, imported when a command runs.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime  # typer reads the annotations when the commands are made
from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_BAD_INPUT, Format, err

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="Find near-copied boilerplate in Chinese work reports.")
index_app = typer.Typer(no_args_is_help=True, help="Build a saved index of a reference corpus.")
app.add_typer(index_app, name="index")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of a server's data folder.")
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(no_args_is_help=True, help="The audit trail of a server's data folder.")
app.add_typer(audit_app, name="audit")
DataOption = Annotated[Path | None, typer.Option(help="The server's data folder (default: "
                                                 "CHACHONG_DATA, or ./data).")]


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Reports to check (files or folders).")],
    corpus: Annotated[Path | None, typer.Option(help="Folder of reference documents.")] = None,
    index: Annotated[Path | None, typer.Option(help="Saved index folder (chachong index build).")]
    = None,
    threshold: Annotated[float | None, typer.Option(help="Fail above this copy ratio (0..1).")]
    = None,
    min_match_chars: Annotated[int | None, typer.Option(
        help="Shortest verbatim run reported on its own (normalised characters).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    output: Annotated[Path | None, typer.Option(
        help="Write here instead of standard output (for html or pdf with several reports: a "
        "folder).")] = None,
    lang: Annotated[str, typer.Option(help="HTML and PDF report language: zh-CN or en.")]
    = "zh-CN",
    exclude_quotes: Annotated[bool | None, typer.Option(
        "--exclude-quotes/--count-quotes", help="Leave “…”, 「…」, 《…》 out of the ratio.")]
    = None,
    exclude_source: Annotated[list[str] | None, typer.Option(
        help="Reference id or tag key=value whose matches do not count (repeatable).")] = None,
    exclude_own: Annotated[bool, typer.Option(
        help="Matches with references of the same --unit or --author do not count.")] = False,
    unit: Annotated[str | None, typer.Option(help="The report's unit.")] = None,
    author: Annotated[str | None, typer.Option(help="The report's author.")] = None,
    stock_phrase: Annotated[list[str] | None, typer.Option(
        help="A further phrase that never counts (repeatable).")] = None,
    stock_phrases: Annotated[bool, typer.Option(
        help="Apply the configured stock-phrase list.")] = True,
    common_share: Annotated[float | None, typer.Option(
        help="Phrases in more than this share of the corpus never count; 0 turns it off.")]
    = None,
    formula_share: Annotated[float | None, typer.Option(
        help="A passage at least this share of the references hold near-identically is a "
        "formula, shown apart and not counted; 0 turns formulas off.")] = None,
    formula_min_refs: Annotated[int | None, typer.Option(
        help="...and at least this many references.")] = None,
    count_formulas: Annotated[bool | None, typer.Option(
        "--count-formulas/--exclude-formulas",
        help="Count formulas (and stock and common phrases) in the ratio.")] = None,
    cross: Annotated[bool, typer.Option(
        help="Also check the reports against each other (which copied from which).")] = False,
    ocr: Annotated[bool, typer.Option(
        help="Recognise scanned PDFs and images (.png, .jpg) with OCR; slow.")] = False,
) -> None:
    """Check reports against the reference corpus, paragraph by paragraph."""
    from .checking import run_check

    run_check(paths, corpus=corpus, index=index, threshold=threshold,
              min_match_chars=min_match_chars, fmt=fmt, output=output, lang=lang,
              exclude_quotes=exclude_quotes, exclude_source=exclude_source,
              exclude_own=exclude_own, unit=unit, author=author, stock_phrase=stock_phrase,
              stock_phrases=stock_phrases, common_share=common_share,
              formula_share=formula_share, formula_min_refs=formula_min_refs,
              count_formulas=count_formulas, cross=cross, ocr=ocr)


@index_app.command("build")
def index_build(
    folder: Annotated[Path, typer.Argument(help="Folder of reference documents.")],
    out: Annotated[Path, typer.Option("--out", help="Index folder to write (an index there is "
                                      "replaced when the new one is complete).")],
    workers: Annotated[int, typer.Option(min=1, help="Processes that analyse references "
                                         "(default: one per core).")] = os.cpu_count() or 1,
) -> None:
    """Index a reference folder once and save it, for fast repeated checks (--index)."""
    from .indexing import build

    build(folder, out, workers)


@index_app.command("add")
def index_add(
    folder: Annotated[Path, typer.Argument(help="Folder of reference documents to add.")],
    index: Annotated[Path, typer.Option("--index", help="Index folder to add them to (a "
                                        "server may be running on it).")],
    workers: Annotated[int, typer.Option(min=1, help="Processes that analyse references "
                                         "(default: one per core).")] = os.cpu_count() or 1,
) -> None:
    """Add a folder of references to a saved index (or a server's data index): all ids are
    checked first, then each reference is on disk once counted."""
    from .indexing import add

    add(folder, index, workers)


@index_app.command("fold")
def index_fold(
    store: Annotated[str, typer.Option("--store", help="The shared store (redis://... or "
                                       "redis+cluster://host:port,...).")],
    index: Annotated[Path, typer.Option("--index", help="Saved index folder to fold its "
                                        "references into (the servers' next base).")],
) -> None:
    """Move what the servers added to a shared store into a saved index: the store then holds
    only what is added after (see the README for the whole procedure)."""
    from .indexing import fold

    fold(store, index)


@index_app.command("verify")
def index_verify(
    path: Annotated[Path, typer.Argument(help="Index folder to check.")],
) -> None:
    """Check every file of a saved index against its recorded checksum, and its log."""
    from .indexing import verify

    verify(path)


@app.command()
def serve(
    corpus: Annotated[Path | None, typer.Option(help="Base reference folder (default: the "
                                                "bundled templates).")] = None,
    index: Annotated[Path | None, typer.Option(help="Saved index folder to serve instead of "
                                               "a corpus (chachong index build).")] = None,
    data: Annotated[Path | None, typer.Option(help="Folder of the durable reference store.")]
    = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (and its OpenAPI docs at /docs)."""
    from .serving import run_server

    run_server(corpus, index, data, host, port, workers)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who holds the key (shown in lists).")],
    scope: Annotated[list[str], typer.Option(help="check, read, write or admin (repeatable).")],
    collection: Annotated[list[str] | None, typer.Option(
        help="A collection the key may use, made if missing (repeatable; '*' for all).")]
    = None,
    rate: Annotated[int | None, typer.Option(min=1, help="Requests a minute (default: the "
                                             "server's CHACHONG_RATE_PER_MINUTE).")] = None,
    data: DataOption = None,
) -> None:
    """Make a key; it is printed once, on standard output, and only its digest is kept."""
    from .keys import create

    create(name, scope, collection or [], rate, data)


@keys_app.command("list")
def keys_list(data: DataOption = None,
              as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False) -> None:
    """Every key (revoked ones too), without secrets."""
    from .keys import list_keys

    list_keys(data, as_json)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")],
                data: DataOption = None) -> None:
    """Revoke a key: every server worker refuses it at its next request."""
    from .keys import revoke

    revoke(key_id, data)


@audit_app.command("export")
def audit_export(
    data: DataOption = None,
    since: Annotated[datetime | None, typer.Option(help="Entries from this time on.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of standard "
                                                "output.")] = None,
) -> None:
    """Every entry of the audit trail as JSON lines, oldest first."""
    from .keys import export

    export(data, since, output)


def main() -> None:
    from app.core.errors import ChachongError

    try:
        app()
    except ChachongError as exc:  # anything the commands did not translate themselves
        err().print(f"error: {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
