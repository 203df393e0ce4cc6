"""Run a converter (LibreOffice, the OCR worker) on an untrusted file, bounded.

Every run gets a fresh temporary folder (its home, its temp folder, its input and output),
removed afterwards; a time limit on the wall clock, after which its whole process group is
killed; limits on memory (address space), CPU time and the size of any file it writes; and no
network (``jail.py``). A converter that overruns, crashes or writes nothing is reported as a
``ConversionError`` naming the file, never left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConversionError, ConversionTimeoutError, ReaderUnavailableError

JAIL = Path(__file__).with_name("jail.py")
MiB = 1024 * 1024
STDERR_KEPT = 2000  # characters of a failed converter's own words kept for the message
# Conversions at once in one process, one a core: a burst of uploads waits here rather than
# starting dozens of converters of up to a gigabyte each. The time limit starts once running.
_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


@dataclass(frozen=True)
class Limits:
    """Bounds of one conversion: wall-clock seconds, memory (address space) and output size."""

    seconds: float = 60.0
    memory_bytes: int = 1024 * MiB
    file_bytes: int = 256 * MiB


@contextmanager
def workspace() -> Iterator[Path]:
    """A private temporary folder, removed with everything in it afterwards."""
    with tempfile.TemporaryDirectory(prefix="chachong-convert-") as folder:
        os.chmod(folder, 0o700)
        yield Path(folder)


def run_bounded(command: list[str], folder: Path, limits: Limits, name: str,
                what: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` in ``folder`` within ``limits``; ``name`` is the user's file and
    ``what`` the converter, both for messages. Returns the finished process (any exit code)."""
    # CPU time adds up over threads: the wall clock is the limit, this only backs it up
    cpu = int(limits.seconds * (os.cpu_count() or 1)) + 1
    jailed = [sys.executable, str(JAIL), "--memory", str(limits.memory_bytes),
              "--cpu", str(cpu), "--file-size", str(limits.file_bytes), "--", *command]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
           "TMPDIR": str(folder), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           # numerical libraries start one thread per core otherwise, each with its own stack
           "OMP_NUM_THREADS": "1"}
    with _SLOTS:
        process = subprocess.Popen(jailed, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        try:
            out, err = process.communicate(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.communicate()
            raise ConversionTimeoutError(
                f"{name}: {what} did not finish within {limits.seconds:g} s; the file is "
                "refused (save it again from the program that made it, or as .docx or .pdf)"
            ) from None
        finally:
            _kill_group(process.pid)  # helpers it left behind (LibreOffice forks one)
    if process.returncode == 125 and b"jail:" in err:
        raise ReaderUnavailableError(f"{name}: {what} could not be started in its "
                                     f"sandbox on the server: {_words(err)}")
    return subprocess.CompletedProcess(jailed, process.returncode, out, err)


def failure(name: str, what: str, done: subprocess.CompletedProcess[bytes]) -> ConversionError:
    """The error for a converter that exited without a result."""
    if done.returncode < 0 or done.returncode > 128:
        number = -done.returncode if done.returncode < 0 else done.returncode - 128
        try:
            how = f"was killed by {signal.Signals(number).name}"
        except ValueError:
            how = f"crashed (signal {number})"
        return ConversionError(f"{name}: {what} {how} while reading it (out of memory, or a "
                               "damaged file); the file is refused")
    said = _words(done.stderr + b"\n" + done.stdout)
    return ConversionError(f"{name}: {what} could not read it (exit {done.returncode}"
                           f"{': ' + said if said else ''}); the file is damaged or not of "
                           "the type its name says")


def _words(output: bytes) -> str:
    """What a converter said, without its routine chatter about its own start-up."""
    lines = [ln.strip() for ln in output.decode("utf-8", "replace").splitlines()]
    kept = [ln for ln in lines if ln and "javaldx" not in ln and not ln.startswith("convert ")]
    return " ".join(kept)[-STDERR_KEPT:]


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
