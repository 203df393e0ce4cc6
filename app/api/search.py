"""Finding references by id, title, source or tag: a plain scan of the corpus, page by page.

Fine for the thousands of references a department keeps; a corpus of 100,000 references takes
seconds per search (every reference is read), where an index of the metadata would be needed.
"""

from __future__ import annotations

from app.collections import TEMPLATES
from app.service import CorpusService, Summary

CHUNK = 500


def matches(ref: Summary, query: str) -> bool:
    """Every word of the query (case-insensitive) is in the id, title, source or a tag."""
    fields = [ref.id, ref.title, ref.source or "",
              *(f"{k}={v}" for k, v in ref.tags.items())]
    haystack = "\n".join(fields).casefold()
    return all(word in haystack for word in query.casefold().split())


def search(service: CorpusService, query: str, offset: int, limit: int,
           collection: str = TEMPLATES) -> tuple[int, list[Summary]]:
    """(how many match, the page of them from ``offset``), in id order."""
    total, _ = service.list(0, 1, collection)
    found, page = 0, []
    for start in range(0, total, CHUNK):
        _, refs = service.list(start, CHUNK, collection)
        for ref in refs:
            if matches(ref, query):
                if offset <= found < offset + limit:
                    page.append(ref)
                found += 1
    return found, page
