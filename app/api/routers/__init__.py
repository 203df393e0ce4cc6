"""One router per resource: checks, history, references, collections, keys, audit, operations,
pages."""

from . import audit, checks, collections, history, keys, operations, pages, references

__all__ = ["audit", "checks", "collections", "history", "keys", "operations", "pages",
           "references"]
