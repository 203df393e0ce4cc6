"""One router per resource: checks, references, operations, pages."""

from . import checks, operations, pages, references

__all__ = ["checks", "operations", "pages", "references"]
