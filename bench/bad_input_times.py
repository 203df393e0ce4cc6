#!/usr/bin/env python3
"""How long the service takes on the big bad inputs of the robustness suite (the suite itself
only checks that they are answered: timing belongs here, not in a test).

A real ``chachong serve`` (one worker, the bundled templates) on 127.0.0.1 gets each input once,
as an upload, in a fresh server per input so that one slow answer cannot delay the next.

    python bench/bad_input_times.py

Prints one JSON line: seconds and status for each input.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from load import start_server, stop_server  # bench/load.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("line-1mb.txt", "lines-100k-one-char.txt", "line-1mb-one-sentence.txt",
          "lines-100k-one-sentence.txt", "zip-bomb.docx")


def _maker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_badinput", ROOT / "tests" / "badinput" / "make_badinput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def post(url: str, name: str, data: bytes) -> int:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url}/v1/check", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> int:
    maker = _maker()
    figures = {}
    for name in INPUTS:
        data = maker.LARGE[name]()
        with tempfile.TemporaryDirectory() as tmp:
            proc, url, _ = start_server(Path(tmp), ROOT / "reference_corpus", 1, 120)
            try:
                t0 = time.perf_counter()
                status = post(url, name, data)
                figures[name] = {"seconds": round(time.perf_counter() - t0, 2),
                                 "status": status, "bytes": len(data)}
            finally:
                stop_server(proc)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
