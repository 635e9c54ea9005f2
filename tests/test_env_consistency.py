"""environment.yml (conda) lists the same dependencies, with the same version specifiers, as
pyproject.toml (pip): core dependencies and every extra, torch pinned in the pip section. The citation
metadata (CITATION.cff) and the LICENSE file agree with pyproject.toml too."""

from __future__ import annotations

import re

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from gdln.util.files import REPO_ROOT

tomllib = pytest.importorskip("tomllib")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> tuple[dict[str, SpecifierSet], str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    reqs = [Requirement(r) for r in lines]
    return {normalise(r.name): r.specifier for r in reqs}, project["requires-python"]


def environment() -> tuple[dict[str, SpecifierSet], list[str], str]:
    deps = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [line for d in deps if isinstance(d, dict) for line in d.get("pip", [])]
    python = next(d.split("=", 1)[1] for d in conda if re.match(r"python\b", d))
    specs = {}
    for line in [d for d in conda if not re.match(r"(python|pip)\b", d)] + [p for p in pip if not p.startswith("-")]:
        req = Requirement(line.replace(" ", ""))
        specs[normalise(req.name)] = req.specifier
    return specs, [p for p in pip if not p.startswith("-")], python


def test_same_names_and_version_specifiers():
    pip_deps, _ = pyproject()
    conda_deps, _, _ = environment()
    assert sorted(conda_deps) == sorted(pip_deps), (
        f"only in pyproject: {sorted(set(pip_deps) - set(conda_deps))}; "
        f"only in environment.yml: {sorted(set(conda_deps) - set(pip_deps))}")
    differ = {n: (str(pip_deps[n]), str(conda_deps[n])) for n in pip_deps if pip_deps[n] != conda_deps[n]}
    assert not differ, f"version specifiers differ (pyproject, environment.yml): {differ}"


def test_torch_pinned_and_installed_by_pip():
    pip_deps, _ = pyproject()
    _, pip, _ = environment()
    assert str(pip_deps["torch"]) == "==2.13.0"  # unpinned torch would pull a multi-GB CUDA build
    assert "torch==2.13.0" in pip  # conda's package is named pytorch: take the same wheel via pip


def test_conda_python_satisfies_requires_python():
    _, requires = pyproject()
    _, _, python = environment()
    assert SpecifierSet(requires).contains(python + ".0"), (python, requires)


def test_citation_cff_is_valid_and_agrees_with_pyproject():
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):  # required by the Citation File Format
        assert cff.get(key), f"CITATION.cff lacks {key!r}"
    assert cff["cff-version"] == "1.2.0"
    assert all(isinstance(a, dict) and (a.get("name") or a.get("family-names")) for a in cff["authors"])
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == project["version"] and cff["license"] == project["license"]
    paper = next(r for r in cff["references"] if "The Neural Race Reduction" in r["title"])
    assert [a["family-names"] for a in paper["authors"]] == ["Saxe", "Sodhani", "Lewallen"]
    assert (paper["year"], paper["volume"], paper["start"], paper["end"]) == (2022, 162, 19287, 19309)


def test_license_file_matches_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == "MIT" and text.startswith("MIT License") and "the gdln authors" in text
