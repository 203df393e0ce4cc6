"""The user's cache folder: files made once and kept between runs (jieba's dictionary as a trie,
datasketch's MinHash parameters, the bundled corpus's saved index), so that a check from the
command line does not pay for them at every start. ``CHACHONG_CACHE_DIR`` names another
folder; one that cannot be made is no error: what would be cached is made again each run."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir


def cache_dir() -> Path | None:
    folder = Path(os.environ.get("CHACHONG_CACHE_DIR") or user_cache_dir("chachong"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def remembered(key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays that ``make`` computes, kept in the cache folder under ``key`` (which must name
    everything they depend on, versions included) and read back on later runs."""
    found = read_arrays(key)
    if found is None:
        found = make()
        write_arrays(key, found)
    return found


def read_arrays(key: str) -> dict[str, np.ndarray] | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with np.load(folder / f"{key}.npz", allow_pickle=False) as found:
            return {name: found[name] for name in found.files}
    except (OSError, ValueError):
        return None  # not made yet, or cut short


def write_arrays(key: str, arrays: dict[str, np.ndarray]) -> None:
    """Written beside and moved into place, so a concurrent reader sees all or nothing."""
    folder = cache_dir()
    if folder is None:
        return
    temporary = folder / f"{key}.{os.getpid()}.tmp.npz"
    try:
        np.savez(temporary, allow_pickle=False, **arrays)
        os.replace(temporary, folder / f"{key}.npz")
    except OSError:
        temporary.unlink(missing_ok=True)


def version_of(package: str) -> str:
    """An installed package's version, without importing it."""
    return metadata.version(package)
