"""The README's CI example, run as written: its ``run:`` commands in a fresh virtualenv, with
``CHACHONG_REPO`` pointing at a git repository of this working tree tagged as the example names
it, on a folder of references and a folder of reports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import CASES, CORPUS_DIR, ROOT

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
# what an installation needs (as the Dockerfile copies it)
PACKAGE = ("pyproject.toml", "README.md", "app", "reference_corpus")


def ci_example() -> tuple[dict[str, str], list[str], str]:
    """The workflow block of the README: its env, its run commands, its release tag."""
    block = re.search(r"```yaml\n# \.github/workflows/reports\.yml\n(.*?)```", README.read_text(
        encoding="utf-8"), re.S)
    assert block, "the README has no CI example"
    text = block.group(1)
    env = dict(re.findall(r"^\s+(CHACHONG_[A-Z_]+):\s*(.+?)(?:\s+#.*)?$", text, re.M))
    runs = re.findall(r"^\s+- run: (.+)$", text, re.M)
    tag = re.search(r"@(v\d+\.\d+\.\d+)", text)
    assert env and runs and tag, text
    return env, runs, tag.group(1)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost"})


def test_the_readme_ci_example_installs_and_checks(tmp_path: Path) -> None:
    env, runs, tag = ci_example()
    assert "CHACHONG_REPO" in env and not any(r.startswith("pip install chachong") for r in runs)
    repo = tmp_path / "chachong"
    repo.mkdir()
    for name in PACKAGE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, repo / name)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "release", cwd=repo)
    git("tag", tag, cwd=repo)
    # the repository of reports the workflow runs in
    work = tmp_path / "reports-repo"
    (work / "references").mkdir(parents=True)
    (work / "reports").mkdir()
    for ref in CORPUS_DIR.glob("*.txt"):
        shutil.copy2(ref, work / "references" / ref.name)
    for case in ("case-000.txt", "case-001.txt", "case-009.txt"):
        shutil.copy2(CASES / case, work / "reports" / case)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    shell_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("CHACHONG_", "VIRTUAL_ENV", "PYTHON"))}
    shell_env.update(CHACHONG_REPO=repo.as_uri(), VIRTUAL_ENV=str(venv),
                     PATH=f"{venv / 'bin'}{os.pathsep}{shell_env.get('PATH', '')}")
    install, check = runs
    done = subprocess.run(["bash", "-c", install], cwd=work, env=shell_env, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (venv / "bin" / "chachong").exists()
    done = subprocess.run(["bash", "-c", check], cwd=work, env=shell_env, capture_output=True,
                          text=True, timeout=600, check=False)
    # case-000 copies more than the threshold allows: exit 1, with annotations on the files
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::")]
    assert any("file=reports/case-000.txt" in line for line in annotations), annotations[:5]
    assert any("file=reports/case-009.txt" in line for line in annotations), annotations[:5]
    assert not any("case-001.txt" in line for line in annotations)  # it copies nothing
