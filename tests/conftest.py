"""Session-wide fixtures: the reference index is built once from the bundled corpus."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from support import DEV, PROVINCIAL

from app.core import (
    CheckResult,
    ReferenceIndex,
    build_index,
    bundled_corpus_dir,
    check_text,
    load_corpus,
)
from app.storage import build_index_folder

# Property tests run real pipeline steps whose time varies with the machine's load: no deadline
# (hypothesis's default of 200 ms turns a busy CI machine into a failure).
settings.register_profile("chachong", deadline=None)
settings.load_profile("chachong")


def pytest_configure(config: pytest.Config) -> None:
    missing = [str(p) for p in (DEV, PROVINCIAL) if not p.is_dir()]
    if missing:
        raise pytest.UsageError(f"the test fixtures are missing: {', '.join(missing)} (they are "
                                "committed under tests/fixtures/)")


@pytest.fixture(scope="session")
def index() -> ReferenceIndex:
    """The bundled template corpus, indexed once per session (never mutated by tests)."""
    return build_index(load_corpus(bundled_corpus_dir()))


@pytest.fixture(scope="session")
def check(index: ReferenceIndex) -> Callable[..., CheckResult]:
    """check_text against the bundled corpus."""
    def run(text: str, **kwargs: object) -> CheckResult:
        return check_text(text, index, **kwargs)  # type: ignore[arg-type]
    return run


@pytest.fixture(scope="session")
def saved_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus as a saved index folder, built once (for --index and fresh-process
    tests)."""
    path = tmp_path_factory.mktemp("index") / "bundled.idx"
    build_index_folder(load_corpus(bundled_corpus_dir()), path)
    return path


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    """Collect garbage when the test ends, so that a file handle it leaked (a ResourceWarning,
    an error under filterwarnings=error) is reported against this test, not a later one."""
    yield
    gc.collect()
