"""HTTP API (FastAPI): a thin adapter over the core and the reference store."""
