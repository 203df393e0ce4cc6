"""SARIF 2.1.0: one result per copied span, with its file, line and column region."""

from __future__ import annotations

from typing import Any

from app import __version__
from app.core.schema import CheckResult
from app.reports.positions import LineIndex

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULE_ID = "copied-text"


def _message(result: CheckResult, i: int, j: int) -> str:
    m = result.paragraphs[i].matches[j]
    kind = "verbatim copy" if m.exact else f"near copy (similarity {m.similarity:.2f})"
    note = f" [not counted: {m.excluded}]" if m.excluded else ""
    return (f"{kind} of {m.source.title} ({m.source.id}, characters "
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
                    "ruleId": RULE_ID,
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
                                   "exact": m.exact, "paragraph": para.index,
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
                                            "and cite the source."}}],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
