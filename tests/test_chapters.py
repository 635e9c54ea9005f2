"""Every chapter of the toc runs in quick mode without error and writes a complete claims manifest;
no claim fails (a declared, explained deviation, status "deviates", is reported but does not fail).

The chapters are executed through the runner's cache: after `make book` nothing runs again here.
"""

from __future__ import annotations

import json

import pytest

from gdln import book
from gdln.book.claims import STATUSES, Claim
from gdln.book.provenance import build_dir

CHAPTERS = book.chapters()
REQUIRED = ("id", "ref", "statement", "measured", "target", "tolerance", "passed", "mode")


def manifest(name: str) -> list[dict]:
    path = build_dir() / "claims" / f"{name}.json"
    assert path.exists(), f"chapter {name!r} wrote no claims manifest ({path})"
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_executes_in_quick_mode(name):
    record = book.execute(name, {"mode": "quick"}, log=lambda *a, **k: None)
    assert record["parameters"]["mode"] == "quick"
    nb = json.loads((build_dir() / "executed" / f"{name}.ipynb").read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"chapter {name!r} has error outputs: {[e.get('ename') for e in errors]}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_manifest_has_required_fields(name):
    claims = manifest(name)
    assert claims, f"chapter {name!r} checked no claims"
    for c in claims:
        missing = [k for k in REQUIRED if k not in c]
        assert not missing, f"claim {c.get('id')!r} of {name!r} lacks {missing}"
        assert set(c) <= set(Claim.__dataclass_fields__), f"claim {c['id']!r} has unknown fields"
        assert c["status"] in STATUSES and c["mode"] == "quick"
        assert c["passed"] is STATUSES[c["status"]]


def test_no_claim_fails():
    for name in CHAPTERS:  # every chapter must have run (the test above) and produced a manifest
        book.execute(name, {"mode": "quick"}, log=lambda *a, **k: None)
    failing = [f"{c['id']} ({name}: measured {c['measured']:.4g}, target {c['target']:.4g}, {c['kind']} "
               f"tolerance {c['tolerance']:.3g})" for name in CHAPTERS for c in manifest(name)
               if c["status"] == "fail"]
    assert not failing, "failing claims:\n  " + "\n  ".join(failing)
