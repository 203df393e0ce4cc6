"""SARIF 2.1.0: one result per copied span, with its file, line and column region."""

from __future__ import annotations

from typing import Any

from app import __version__
from app.core.schema import CheckResult, Match
from app.reports.positions import LineIndex

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULE_ID = "copied-text"
FORMULA_RULE_ID = "formula"  # a passage many references hold: named, not a copy of one source
KIND_NAMES = {"verbatim": "verbatim", "filled": "placeholders filled",
              "swapped": "words swapped", "reordered": "sentences reordered",
              "converted": "characters converted", "rewrapped": "re-wrapped"}


def describe(m: Match) -> str:
    """What a match is, in words: a formula and how many references hold it, or the copy, its
    similarity and how it was disguised."""
    if m.formula_refs is not None:
        return f"formula held by {m.formula_refs} references"
    if m.exact and m.kind == "verbatim":
        return "verbatim copy"
    kinds = ", ".join(KIND_NAMES[k] for k in m.kinds)
    return f"{'verbatim' if m.exact else 'near'} copy ({kinds}; similarity {m.similarity:.2f})"


def _message(result: CheckResult, i: int, j: int) -> str:
    m = result.paragraphs[i].matches[j]
    note = f" [not counted: {m.excluded}]" if m.excluded else ""
    return (f"{describe(m)} of {m.source.title} ({m.source.id}, characters "
            f"{m.source.start}-{m.source.end}){note}")


def to_sarif(reports: list[tuple[str, str, CheckResult]]) -> dict[str, Any]:
    """SARIF log for (file uri, text, result) triples."""
    results: list[dict[str, Any]] = []
    for uri, text, result in reports:
        lines = LineIndex(text)
        level = "error" if result.verdict == "fail" else "warning"
        for i, para in enumerate(result.paragraphs):
            for j, m in enumerate(para.matches):
                start_line, start_col = lines.position(m.start)
                end_line, end_col = lines.position(m.end)
                results.append({
                    "ruleId": RULE_ID if m.formula_refs is None else FORMULA_RULE_ID,
                    "level": "note" if m.excluded else level,
                    "message": {"text": _message(result, i, j)},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": start_line, "startColumn": start_col,
                                   "endLine": end_line, "endColumn": end_col,
                                   "charOffset": m.start, "charLength": m.end - m.start,
                                   "snippet": {"text": m.text}},
                    }}],
                    "properties": {"source": m.source.id, "similarity": m.similarity,
                                   "exact": m.exact, "kind": m.kind, "kinds": m.kinds,
                                   "formulaRefs": m.formula_refs, "paragraph": para.index,
                                   "excluded": m.excluded,
                                   "excludedParts": [p.model_dump() for p in m.excluded_parts],
                                   "reportCopyRatio": result.copy_ratio},
                })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "chachong", "version": __version__,
                "informationUri": "https://pypi.org/project/chachong/",
                "rules": [{"id": RULE_ID, "name": "CopiedText",
                           "shortDescription": {"text": "Text copied from a reference document"},
                           "help": {"text": "Rewrite the passage in your own words, or quote "
                                            "and cite the source."}},
                          {"id": FORMULA_RULE_ID, "name": "Formula",
                           "shortDescription": {"text": "A formula many reference documents "
                                                        "hold (规定表述), not a copy"},
                           "help": {"text": "Formulas are shown apart and, unless "
                                            "count_formulas is set, not counted."}}],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
