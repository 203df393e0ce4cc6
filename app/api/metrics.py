"""Prometheus metrics (per worker process)."""

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("chachong_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("chachong_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CHECKS = Counter("chachong_checks_total", "Reports checked")
CORPUS_SIZE = Gauge("chachong_corpus_references", "References in the index")
