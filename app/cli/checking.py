"""``chachong check``: read the reports, check them, write the results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from pydantic import ValidationError

from app.collections import label_sources
from app.core import (
    ChachongError,
    CheckResult,
    CrossResult,
    build_index,
    check_text,
    cross_check,
    load_corpus,
    require_text,
)
from app.core.index import Index, MultiIndex, ReferenceIndex
from app.core.readers import REPORT_SUFFIXES, Extracted, ReadOptions, extract_all
from app.options import CheckOverrides, check_options
from app.storage import LiveIndex
from app.storage.bundled import bundled_index

from .common import EXIT_FAIL, EXIT_PASS, Format, err, fail
from .common import settings as common_settings

LANGUAGES = ("zh-CN", "en")  # the report writers' languages (app.reports.html.LABELS)


def run_check(paths: list[Path], *, corpus: Path | None, index: Path | None,
              threshold: float | None, min_match_chars: int | None, fmt: Format,
              output: Path | None, lang: str, exclude_quotes: bool | None,
              exclude_source: list[str] | None, exclude_own: bool, unit: str | None,
              author: str | None, stock_phrase: list[str] | None, stock_phrases: bool,
              common_share: float | None, formula_share: float | None,
              formula_min_refs: int | None, count_formulas: bool | None, cross: bool,
              ocr: bool = False) -> None:
    settings = common_settings()
    if corpus is not None and index is not None:
        raise fail("give either --corpus or --index, not both")
    try:
        options = check_options(settings, CheckOverrides(
            threshold=threshold, min_match_chars=min_match_chars, exclude_quotes=exclude_quotes,
            exclude_sources=exclude_source or [], exclude_own=exclude_own, unit=unit,
            author=author, stock_phrases=stock_phrase or [], use_stock_phrases=stock_phrases,
            common_share=common_share, formula_share=formula_share,
            formula_min_refs=formula_min_refs, count_formulas=count_formulas))
    except (ValueError, ValidationError) as exc:
        raise fail(str(exc)) from None
    files = _reports(paths)
    try:
        ref_index = load_index(corpus or settings.corpus, index or settings.index)
    except ChachongError as exc:
        raise fail(str(exc)) from None

    if lang not in LANGUAGES:
        raise fail(f"--lang must be one of {', '.join(LANGUAGES)}")
    texts = _read_reports(files, settings.read_options(ocr))
    if cross:
        stems = [p.stem for p, _, _ in texts]
        if len(set(stems)) != len(stems):
            raise fail("--cross needs reports with distinct file names (their ids)")
        try:
            crossed = cross_check([(p.stem, t) for p, t, _ in texts], ref_index, options)
            for done in crossed.reports:  # the corpus is what a server calls templates
                label_sources(done.result, stems)
        except ChachongError as exc:
            raise fail(str(exc)) from None
        crossed = crossed.model_copy(update={"reports": [
            r.model_copy(update={"result": r.result.model_copy(update={"document": d.info()})})
            for r, (_, _, d) in zip(crossed.reports, texts, strict=True)]})
        emit_cross(crossed, fmt, output, lang)
        failed = any(r.result.verdict == "fail" for r in crossed.reports)
        raise typer.Exit(EXIT_FAIL if failed else EXIT_PASS)
    reports: list[Report] = [
        (p, t, label_sources(check_text(t, ref_index, options, title=p.name)).model_copy(
            update={"document": d.info()})) for p, t, d in texts]
    try:
        emit(reports, fmt, output, lang)
    except OSError as exc:
        raise fail(f"{output}: cannot be written ({exc.strerror})") from None
    failed = any(r.verdict == "fail" for _, _, r in reports)
    raise typer.Exit(EXIT_FAIL if failed else EXIT_PASS)


Report = tuple[Path, str, CheckResult]


def _read_reports(files: list[Path], reading: ReadOptions) -> list[tuple[Path, str, Extracted]]:
    """Each report's text and how it was read (every document of a .zip, as ZIP/member);
    what a reader had to work around is said on standard error."""
    console = err()
    texts: list[tuple[Path, str, Extracted]] = []
    for path in files:
        try:
            documents, skipped = extract_all(path.read_bytes(), str(path), reading)
            for name, document in documents:
                texts.append((Path(name), require_text(document.text, name), document))
                for warning in document.warnings:
                    # soft_wrap: a path cut across lines could not be searched for
                    console.print(f"warning: {warning}", highlight=False, markup=False,
                              soft_wrap=True)
            for warning in skipped:
                console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        except ChachongError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"{path}: cannot be read ({exc.strerror})") from None
    return texts


def emit_cross(crossed: CrossResult, fmt: Format, output: Path | None, lang: str) -> None:
    """Batch results: JSON, an HTML page, or tables on the terminal."""
    if fmt is Format.json:
        _write(output, crossed.model_dump_json(indent=1) + "\n")
    elif fmt is Format.html:
        from app.reports.html import render_batch_html

        _write(output, render_batch_html(crossed, lang))
    elif fmt is Format.pdf:
        from app.reports.pdf import render_batch_pdf

        _write_bytes(output, render_batch_pdf(crossed, lang))
    elif fmt is Format.text:
        from rich.console import Console
        from rich.table import Table

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
        raise fail(f"--cross supports --format text, json, html or pdf, not {fmt.value}")


def _page(fmt: Format, report: Report, lang: str) -> bytes:
    """One report as an HTML page or a PDF."""
    path, text, result = report
    if fmt is Format.pdf:
        from app.reports.pdf import render_pdf

        return render_pdf(result, text, lang, name=path.name)
    from app.reports.html import render_html

    return render_html(result, text, lang, name=path.name).encode("utf-8")


def emit(reports: list[Report], fmt: Format, output: Path | None, lang: str) -> None:
    """Write the results in the chosen format to ``output`` or standard output."""
    if fmt in (Format.html, Format.pdf):
        if len(reports) > 1:
            if output is None:
                raise fail(f"--format {fmt.value} with several reports needs --output FOLDER")
            output.mkdir(parents=True, exist_ok=True)
            used: set[str] = set()
            for report in reports:
                stem = report[0].stem
                name, n = f"{stem}.{fmt.value}", 1
                while name in used:  # reports of the same name from different folders
                    n += 1
                    name = f"{stem}-{n}.{fmt.value}"
                used.add(name)
                (output / name).write_bytes(_page(fmt, report, lang))
            return
        _write_bytes(output, _page(fmt, reports[0], lang))
        return
    if fmt is Format.json:
        if len(reports) == 1:
            payload: object = reports[0][2].model_dump(mode="json")
        else:
            payload = [{"file": str(p), **r.model_dump(mode="json")} for p, _, r in reports]
        _write(output, json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    elif fmt is Format.sarif:
        from app.reports.sarif import to_sarif

        log = to_sarif([(p.as_posix(), t, r) for p, t, r in reports])
        _write(output, json.dumps(log, ensure_ascii=False, indent=1) + "\n")
    elif fmt is Format.github:
        from app.reports.github import to_github

        lines = [ln for p, t, r in reports for ln in to_github(p.as_posix(), t, r)]
        _write(output, "".join(f"{ln}\n" for ln in lines))
    else:
        from rich.console import Console

        from app.reports.terminal import render_text

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


def _write_bytes(output: Path | None, content: bytes) -> None:
    if output is not None:
        output.write_bytes(content)
        return
    if content.startswith(b"%PDF") and sys.stdout.isatty():
        raise fail("a PDF is not for the terminal: give --output FILE.pdf or redirect the output")
    sys.stdout.flush()
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()


def load_index(corpus: Path | None, index_file: Path | None) -> Index:
    """The index from a saved index folder, a corpus folder, or the bundled corpus."""
    if index_file is not None:
        return MultiIndex(LiveIndex(index_file, slot_base=0, readonly=True).parts())
    if corpus is not None:
        return build_index(load_corpus(corpus))
    base = bundled_index()
    return base if isinstance(base, ReferenceIndex) else MultiIndex(base.parts())


def _reports(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES)
            if not found:
                raise fail(f"{path}: no reports in this folder ({', '.join(REPORT_SUFFIXES)})")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise fail(f"{path}: no such file or folder")
    return out
