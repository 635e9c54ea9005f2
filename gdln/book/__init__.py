"""Layer 6, the book: chapters' claims and provenance, parameter validation, the runner and its CLI.

- :mod:`~gdln.book.claims`      the claims manifest each chapter writes
- :mod:`~gdln.book.provenance`  where a result came from (code hash, parameters, device, time)
- :mod:`~gdln.book.parameters`  named validators of a chapter's parameters, read statically from its source
- :mod:`~gdln.book.chapter`     a chapter's preamble in one call (:class:`Chapter`)
- :mod:`~gdln.book.runner`      execute chapters (jupytext + papermill, cached) and build the HTML
- :mod:`~gdln.book.report`      the Reproduction report page
- :mod:`~gdln.book.scale`       the scale of a run, read from its record, against the paper's (Section 5 panels)
- :mod:`~gdln.book.archive`     archived full-mode runs (``results/<chapter>/``): current, verified, unverified, stale, damaged
- :mod:`~gdln.book.guards`      reading and checking a chapter's quick-mode guards (``results/bounds/<chapter>.json``)
- :mod:`~gdln.book.budget`      the size of a chapter's run against the machine, estimated before any work
- :mod:`~gdln.book.cli`         ``python -m gdln.book list|run|build``

May import: every layer below.
"""

from gdln.book import chapter, claims, cli, parameters, provenance, report, runner, scale, site
from gdln.book.chapter import Chapter
from gdln.book.claims import Claims, one_grid_step
from gdln.book.cli import main
from gdln.book.parameters import (Validator, at_least, check_values, declared_validators, device_name, in_range,
                                  non_negative_int, one_of, optional, positive, zero_or)
from gdln.book.provenance import Provenance
from gdln.book.report import report_markdown
from gdln.book.runner import (ChapterError, cache_key, chapters, check_chapter_parameters, execute, parse_value,
                              read_record, run, select, toc_pages)
from gdln.book.site import render, stage

__all__ = ["chapter", "claims", "cli", "parameters", "provenance", "report", "runner", "scale", "site", "Chapter", "Claims",
           "Provenance", "main", "one_grid_step", "Validator", "at_least", "check_values", "declared_validators", "device_name",
           "in_range", "non_negative_int", "one_of", "optional", "positive", "zero_or",
           "report_markdown", "ChapterError", "cache_key", "chapters", "check_chapter_parameters", "execute",
           "parse_value", "read_record", "run", "select", "toc_pages", "render", "stage"]
