#!/usr/bin/env python3
"""What reading a corpus folder holds for the length of a build, per way of reading it.

    python bench/corpus_memory.py --corpus bench/data/gen300k

A build keeps the folder's file list and its ``corpus.json`` until the last reference is read.
Each way is measured in a fresh process (the resident memory it adds, in MB): the files as
``Path`` objects (sorted ``iterdir``) and as a list of names against ``corpus_files`` (names
in a scratch SQLite database on disk), and ``corpus.json`` parsed whole by ``json.loads`` and
kept as one compact JSON entry an id against ``_read_metadata`` (where each entry lies in the
file, by id, in a scratch database; entries are read again when their references are).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WAYS = {
    "files_as_paths": "held = sorted(folder.iterdir())",
    "files_as_names": "import os; held = sorted(os.listdir(folder))",
    "files_listed": "from app.core.corpus import corpus_files; held = corpus_files(folder)",
    "metadata_parsed_whole": "import json; held = json.loads((folder / 'corpus.json')"
                             ".read_text(encoding='utf-8'))",
    "metadata_compact_entries": "import json; from app.core.corpus import _object_items; "
                                "held = {k: json.dumps(v, ensure_ascii=False, separators=(',', "
                                "':')).encode() for k, v, _, _ in _object_items((folder / "
                                "'corpus.json').read_text(encoding='utf-8'))}",
    "metadata_indexed": "from app.core.corpus import _read_metadata; "
                        "held = _read_metadata(folder)",
}

PROBE = """
import gc, sys
from pathlib import Path
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
folder = Path(sys.argv[1])
import app.core.corpus  # imported before the first sample: its modules are not what is measured
gc.collect()
before = rss()
{way}
gc.collect()
print(round(rss() - before))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus folder")
    args = ap.parse_args()
    figures: dict[str, object] = {"corpus": str(args.corpus)}
    for name, way in WAYS.items():
        out = subprocess.run([sys.executable, "-c", PROBE.format(way=way), str(args.corpus)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        figures[f"{name}_mb"] = int(out.stdout.strip())
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
