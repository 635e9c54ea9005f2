"""The GitHub workflow of the companion's public home is valid (GitHub's workflow schema, offline) and
uses the same make targets as the README."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gdln.util.files import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
CHECK = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")


def _validate(*paths: Path) -> subprocess.CompletedProcess:
    if CHECK is None:
        pytest.fail("check-jsonschema is not installed (it is in the project's test extra: pip install -e .[test])")
    return subprocess.run([CHECK, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_there_is_a_workflow():
    assert [p.name for p in WORKFLOWS] == ["book.yml"]


def test_workflows_match_the_github_schema():
    r = _validate(*WORKFLOWS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_schema_check_can_fail(tmp_path):
    text = WORKFLOWS[0].read_text()
    for good, bad in [("runs-on: ubuntu-latest", "runs-on: 42"),
                      ("timeout-minutes: 60", "timeout-minutes: sixty"),
                      ("  workflow_dispatch:\n", "  workflow_dispatch:\n  on_every_full_moon:\n"),
                      ("      - uses: actions/checkout@v4", "      - usesx: actions/checkout@v4")]:
        assert good in text
        path = tmp_path / "bad.yml"
        path.write_text(text.replace(good, bad, 1))
        assert _validate(path).returncode != 0, f"{bad!r} passed the schema"


def test_workflow_runs_the_readme_make_targets():
    text = WORKFLOWS[0].read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    for command in ("make test", "make book MODE=full DEVICE=cuda"):
        assert command in text, command
        assert command in readme, f"README does not document {command!r}"
