"""The Reproduction report: every chapter's claims, gathered from the claims manifests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from gdln.book.claims import STATUSES, ClaimsTable
from gdln.book.runner import _paths, read_record

__all__ = ["report_markdown"]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A MyST pipe table (pipes inside cells escaped)."""
    cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows])


def report_markdown(names: Sequence[str], build: Path) -> str:
    """The generated part of the Reproduction report: one table of all claims, then provenance."""
    head = ["status", "claim", "statement", "chapter", "paper", "measured (m)", "target (t)", "criterion", "mode"]
    rows, counts, prov, listed = [], dict.fromkeys(STATUSES, 0), [], {"fail": [], "deviates": []}
    for name in names:
        _, _, claims_path = _paths(build, name)
        record = read_record(build, name)
        claims = json.loads(claims_path.read_text()) if claims_path.exists() else []
        for c in claims:
            claim, paper, status, m, t, crit, mode, statement = ClaimsTable([c])._cells(c)
            counts[c["status"]] = counts.get(c["status"], 0) + 1
            css = {"pass": "claim-pass", "fail": "claim-fail", "deviates": "claim-fail"}.get(
                c["status"], "claim-full-only")
            listed.get(c["status"], []).append(f"`{claim}`")
            rows.append([f'<span class="{css}">{status}</span>', f"`{claim}`", statement, f"{{doc}}`{name} <{name}>`",
                         paper, m, t, crit, mode])
        if record:
            p = record["parameters"]
            prov.append([f"{{doc}}`{name} <{name}>`", str(len(claims)) if claims_path.exists() else "**no manifest**",
                         p["mode"], str(p["seed"]), p["device"], record["gdln_version"],
                         f"`{record['gdln_source_hash'][:10]}`", f"{record['wall_time_s']:.1f} s",
                         record["executed_at"]])
        else:
            prov.append([f"{{doc}}`{name} <{name}>`", "**not executed**"] + [""] * 7)
    summary = ", ".join(f"**{v}** {k}" for k, v in counts.items())
    for status, ids in listed.items():
        if ids:
            summary += f"; {'failing' if status == 'fail' else 'deviating (explained)'}: {', '.join(ids)}"
    prov_head = ["chapter", "claims", "mode", "seed", "device", "gdln", "source hash", "wall time", "executed (UTC)"]
    return (f"{sum(counts.values())} claims from {len(names)} chapter(s): {summary}.\n\n"
            f":::{{div}} gdln-report gdln-report-claims\n{_table(head, rows)}\n:::\n\n## Provenance of each chapter\n\n"
            f":::{{div}} gdln-report\n{_table(prov_head, prov)}\n:::\n")


