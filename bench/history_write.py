"""What keeping a check in the history costs as the history fills up to its cap: every kept check
is one synced SQLite commit, and each commit also drops what is past the cap or expired.
``python bench/history_write.py [--rows 10000] [--cap 10000]`` (the bundled corpus only)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app.core import CheckOptions, build_index, bundled_corpus_dir, check_text, load_corpus
from app.history import CheckHistory, ReportBody, SourceText


def a_body() -> ReportBody:
    """A report copying from the bundled templates, kept with the texts of its sources, as the
    service keeps it."""
    corpus = load_corpus(bundled_corpus_dir())
    text = "\n".join(ref.text[: 600 + 300 * i] for i, ref in enumerate(corpus))
    result = check_text(text, build_index(corpus), CheckOptions())
    return ReportBody(text=text, result=result,
                      sources={ref.id: SourceText(title=ref.title, text=ref.text)
                               for ref in corpus})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="checks to keep in all")
    parser.add_argument("--cap", type=int, default=10_000, help="the history's cap")
    parser.add_argument("--window", type=int, default=200,
                        help="writes a median is taken over, at each tenth of the rows")
    args = parser.parse_args()
    body = a_body()
    print(f"a kept check: {len(body.model_dump_json().encode()) / 1024:.0f} KB of JSON")
    with tempfile.TemporaryDirectory() as folder:
        history = CheckHistory(Path(folder), days=30, max_checks=args.cap)
        took = []
        for i in range(args.rows):
            start = time.perf_counter()
            history.save_report(f"check-{i:010d}", f"r{i}", body)
            took.append(time.perf_counter() - start)
        step = args.rows // 10
        for end in range(step, args.rows + 1, step):
            window = took[max(end - args.window, 0):end]
            print(f"writes {end - len(window) + 1:>6,}-{end:<6,}: median "
                  f"{statistics.median(window) * 1000:6.2f} ms")
        print(f"kept: {history.recent(0, 1)[0]:,}")


if __name__ == "__main__":
    main()
