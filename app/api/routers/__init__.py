"""One router per resource: checks, history, references, operations, pages."""

from . import checks, history, operations, pages, references

__all__ = ["checks", "history", "operations", "pages", "references"]
