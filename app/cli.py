"""Command line: ``chachong check``, ``chachong index build`` and ``chachong serve``.

Exit codes: 0 every report at or under the threshold, 1 any report over it, 2 bad input or usage.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from app.core import (
    ChachongError,
    CheckResult,
    CrossResult,
    ReferenceIndex,
    build_index,
    bundled_corpus_dir,
    check_text,
    cross_check,
    load_corpus,
    require_text,
)
from app.core.corpus import corpus_files, iter_corpus
from app.core.index import build_index_folder
from app.core.readers import REFERENCE_SUFFIXES, REPORT_SUFFIXES, Extracted, extract_all
from app.logs import LOG_CONFIG
from app.options import CheckOverrides, check_options
from app.reports.github import to_github
from app.reports.html import LABELS, render_batch_html, render_html
from app.reports.sarif import to_sarif
from app.reports.terminal import render_text
from app.settings import Settings

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Find near-copied boilerplate in Chinese work reports.")
index_app = typer.Typer(no_args_is_help=True, help="Build a saved index of a reference corpus.")
app.add_typer(index_app, name="index")

err = Console(stderr=True)


class Format(StrEnum):
    text = "text"
    json = "json"
    html = "html"
    sarif = "sarif"
    github = "github"


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise _fail(f"bad CHACHONG_* setting: {exc}") from None


def load_index(corpus: Path | None, index_file: Path | None) -> ReferenceIndex:
    """The index from a saved file, a corpus folder, or the bundled corpus."""
    if index_file is not None:
        return ReferenceIndex.load(index_file)
    return build_index(load_corpus(corpus or bundled_corpus_dir()))


def _reports(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise _fail(f"{path}: no reports in this folder ({', '.join(REPORT_SUFFIXES)})")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise _fail(f"{path}: no such file or folder")
    return out


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
        help="Write here instead of standard output (for html with several reports: a folder)."
    )] = None,
    lang: Annotated[str, typer.Option(help="HTML report language: zh-CN or en.")] = "zh-CN",
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
    cross: Annotated[bool, typer.Option(
        help="Also check the reports against each other (which copied from which).")] = False,
    ocr: Annotated[bool, typer.Option(
        help="Recognise scanned PDFs and images (.png, .jpg) with OCR; slow.")] = False,
) -> None:
    """Check reports against the reference corpus, paragraph by paragraph."""
    settings = _settings()
    if corpus is not None and index is not None:
        raise _fail("give either --corpus or --index, not both")
    try:
        options = check_options(settings, CheckOverrides(
            threshold=threshold, min_match_chars=min_match_chars, exclude_quotes=exclude_quotes,
            exclude_sources=exclude_source or [], exclude_own=exclude_own, unit=unit,
            author=author, stock_phrases=stock_phrase or [], use_stock_phrases=stock_phrases,
            common_share=common_share))
    except (ValueError, ValidationError) as exc:
        raise _fail(str(exc)) from None
    files = _reports(paths)
    try:
        ref_index = load_index(corpus or settings.corpus, index or settings.index)
    except ChachongError as exc:
        raise _fail(str(exc)) from None

    if lang not in LABELS:
        raise _fail(f"--lang must be one of {', '.join(LABELS)}")
    texts = _read_reports(files, settings, ocr)
    if cross:
        stems = [p.stem for p, _, _ in texts]
        if len(set(stems)) != len(stems):
            raise _fail("--cross needs reports with distinct file names (their ids)")
    if cross:
        try:
            crossed = cross_check([(p.stem, t) for p, t, _ in texts], ref_index, options)
        except ChachongError as exc:
            raise _fail(str(exc)) from None
        crossed = crossed.model_copy(update={"reports": [
            r.model_copy(update={"result": r.result.model_copy(update={"document": d.info()})})
            for r, (_, _, d) in zip(crossed.reports, texts, strict=True)]})
        emit_cross(crossed, fmt, output, lang)
        failed = any(r.result.verdict == "fail" for r in crossed.reports)
        raise typer.Exit(EXIT_FAIL if failed else EXIT_PASS)
    reports: list[Report] = [
        (p, t, check_text(t, ref_index, options, title=p.name).model_copy(
            update={"document": d.info()})) for p, t, d in texts]
    try:
        emit(reports, fmt, output, lang)
    except OSError as exc:
        raise _fail(f"{output}: cannot be written ({exc.strerror})") from None
    failed = any(r.verdict == "fail" for _, _, r in reports)
    raise typer.Exit(EXIT_FAIL if failed else EXIT_PASS)


Report = tuple[Path, str, CheckResult]


def _read_reports(files: list[Path], settings: Settings, ocr: bool
                  ) -> list[tuple[Path, str, Extracted]]:
    """Each report's text and how it was read (every document of a .zip, as ZIP/member);
    what a reader had to work around is said on standard error."""
    options = settings.read_options(ocr)
    texts: list[tuple[Path, str, Extracted]] = []
    for path in files:
        try:
            documents, skipped = extract_all(path.read_bytes(), str(path), options)
            for name, document in documents:
                texts.append((Path(name), require_text(document.text, name), document))
                for warning in document.warnings:
                    err.print(f"warning: {warning}", highlight=False, markup=False,
                              soft_wrap=True)  # a path cut across lines could not be searched
            for warning in skipped:
                err.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        except ChachongError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"{path}: cannot be read ({exc.strerror})") from None
    return texts


def emit_cross(crossed: CrossResult, fmt: Format, output: Path | None, lang: str) -> None:
    """Batch results: JSON, an HTML page, or tables on the terminal."""
    if fmt is Format.json:
        _write(output, crossed.model_dump_json(indent=1) + "\n")
    elif fmt is Format.html:
        _write(output, render_batch_html(crossed, lang))
    elif fmt is Format.text:
        console = Console()
        reports = Table("report", "copy ratio", "verdict", title="reports")
        for r in crossed.reports:
            reports.add_row(r.id, f"{r.result.copy_ratio:.1%}", r.result.verdict)
        console.print(reports)
        pairs = Table("report", "copied from", "characters", "share", title="between reports")
        for p in crossed.pairs:
            pairs.add_row(p.report, p.source, str(p.copied_chars), f"{p.copy_ratio:.1%}")
        console.print(pairs)
    else:
        raise _fail(f"--cross supports --format text, json or html, not {fmt.value}")


def emit(reports: list[Report], fmt: Format, output: Path | None, lang: str) -> None:
    """Write the results in the chosen format to ``output`` or standard output."""
    if fmt is Format.html:
        if len(reports) > 1:
            if output is None:
                raise _fail("--format html with several reports needs --output FOLDER")
            output.mkdir(parents=True, exist_ok=True)
            used: set[str] = set()
            for path, text, result in reports:
                page = render_html(result, text, lang, name=path.name)
                name, n = f"{path.stem}.html", 1
                while name in used:  # reports of the same name from different folders
                    n += 1
                    name = f"{path.stem}-{n}.html"
                used.add(name)
                (output / name).write_text(page, encoding="utf-8")
            return
        path, text, result = reports[0]
        _write(output, render_html(result, text, lang, name=path.name))
        return
    if fmt is Format.json:
        if len(reports) == 1:
            payload: object = reports[0][2].model_dump(mode="json")
        else:
            payload = [{"file": str(p), **r.model_dump(mode="json")} for p, _, r in reports]
        _write(output, json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    elif fmt is Format.sarif:
        log = to_sarif([(p.as_posix(), t, r) for p, t, r in reports])
        _write(output, json.dumps(log, ensure_ascii=False, indent=1) + "\n")
    elif fmt is Format.github:
        lines = [ln for p, t, r in reports for ln in to_github(p.as_posix(), t, r)]
        _write(output, "".join(f"{ln}\n" for ln in lines))
    else:
        file = output.open("w", encoding="utf-8") if output else None
        try:
            console = Console(file=file) if file else Console()
            for path, text, result in reports:
                render_text(result, str(path), text, console)
        finally:
            if file:
                file.close()


def _write(output: Path | None, content: str) -> None:
    if output is None:
        sys.stdout.write(content)
    else:
        output.write_text(content, encoding="utf-8")


@index_app.command("build")
def index_build(
    folder: Annotated[Path, typer.Argument(help="Folder of reference documents.")],
    out: Annotated[Path, typer.Option("--out", help="Index folder to write (replaced "
                                      "atomically if it exists).")],
    workers: Annotated[int, typer.Option(min=1, help="Processes that analyse references "
                                         "(default: one per core).")] = os.cpu_count() or 1,
) -> None:
    """Index a reference folder once and save it, for fast repeated checks (--index)."""
    try:
        files = corpus_files(folder)
        if not files:
            raise _fail(f"{folder}: no reference files found ({', '.join(REFERENCE_SUFFIXES)})")
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=err,
                      transient=True) as progress:
            task = progress.add_task("indexing", total=len(files))
            count = build_index_folder(iter_corpus(folder, files), out, workers=workers,
                                       progress=lambda n: progress.advance(task, n))
    except ChachongError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{out}: cannot be written ({exc.strerror})") from None
    err.print(f"indexed {count} references into {out}")


@index_app.command("verify")
def index_verify(
    path: Annotated[Path, typer.Argument(help="Index folder to check.")],
) -> None:
    """Check every file of a saved index against its recorded checksum."""
    try:
        ReferenceIndex.verify(path)
    except ChachongError as exc:
        raise _fail(str(exc)) from None
    err.print(f"{path}: intact")


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
    import uvicorn

    if corpus is not None:
        os.environ["CHACHONG_CORPUS"] = str(corpus.resolve())
    if index is not None:
        os.environ["CHACHONG_INDEX"] = str(index.resolve())
    if data is not None:
        os.environ["CHACHONG_DATA"] = str(data.resolve())
    settings = _settings()  # fail here, once, on a bad setting rather than in every worker
    try:
        load_index(settings.corpus, settings.index)
    except ChachongError as exc:
        raise _fail(str(exc)) from None
    from app.api.protocol import NoDelayProtocol

    uvicorn.run("app.api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=LOG_CONFIG, http=NoDelayProtocol)


def main() -> None:
    try:
        app()
    except ChachongError as exc:  # anything the commands did not translate themselves
        err.print(f"error: {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
