"""A chapter's preamble in one call: validated parameters, device, threads, claims, provenance, run box.

::

    ch = Chapter("xor", mode, seed, device, threads=None,
                 n_relu=(n_relu, at_least(1)), tau=(tau, positive()))

checks ``mode``, ``seed``, ``device`` and every ``name=(value, validator)`` pair (a ``ValueError``
names the first bad one), resolves the device, caps torch's CPU threads, creates the chapter's
:class:`~gdln.book.claims.Claims` and :class:`~gdln.book.provenance.Provenance`, and displays the
folded "Run this chapter yourself" element: the two setup commands (clone the repository named in
``_config.yml``, ``make env``), the command that runs the chapter again with this page's values, and a
table of the parameters (meaning and the paper's value read from the comments of the chapter's
parameters cell, :func:`~gdln.book.parameters.parameter_docs`; this page's value; what is accepted). The validators are the named ones of :mod:`gdln.book.parameters`
with literal arguments, so that :func:`~gdln.book.parameters.declared_validators` can read them from
the chapter's source without running it.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import torch
import yaml

from gdln.book import bounds
from gdln.book.claims import Claims, ClaimsTable
from gdln.book.parameters import DEVICE, MODE, SEED, ParameterDoc, Validator, check_values, parameter_docs
from gdln.book.provenance import Provenance
from gdln.book.show import scalar
from gdln.figures.style import legible
from gdln.util.device import resolve_device
from gdln.util.files import REPO_ROOT

__all__ = ["Chapter", "OPTIONS", "command_value", "repository_url", "setup_commands"]

#: Where a fork changes the repository's address (``repository: url:``), read by the run box and the book.
CONFIG = REPO_ROOT / "_config.yml"


@lru_cache(maxsize=None)
def repository_url() -> str:
    """The repository named in ``_config.yml`` (``repository: url:``); ``""`` when it names none."""
    try:
        return str((yaml.safe_load(CONFIG.read_text(encoding="utf-8")) or {}).get("repository", {}).get("url", ""))
    except OSError:
        return ""


def setup_commands(url: str) -> list[str]:
    """The two commands that get the code and its environment: clone ``url`` (and enter it), ``make env``."""
    folder = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "gdln"
    return [f"git clone {url} && cd {folder}", "make env"]

#: Keywords of :class:`Chapter` that are options, not chapter parameters.
OPTIONS = ("replicas", "cpu", "threads", "show")


def command_value(value: Any) -> str:
    """``value`` as the command line's ``-p NAME VALUE`` reads it back (YAML): None -> null, True -> true."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


class Chapter:
    """The preamble of chapter ``name``: see the module docstring.

    Parameters
    ----------
    name, mode, seed, device
        The chapter's name (``book/<name>.md``) and its three common parameters.
    replicas
        Number of seeds the chapter uses (``seed, seed + 1, ...``), for the provenance footer;
        ``None``: the one ``seed``.
    cpu
        Compute on the CPU whatever ``device`` says (e.g. float64 exactness checks); a string gives
        the reason, shown in the run box.
    threads
        At most this many torch intra-op threads when computing on the CPU (tiny matrices lose more
        to thread synchronisation than they gain); ``None`` leaves torch's setting alone.
    show
        Display the "Run this chapter" box (in a notebook).
    **parameters
        ``name=(value, validator)`` for every other parameter of the chapter's parameters cell.

    Attributes: ``name, mode, seed, device`` (as given), ``quick`` (mode is "quick"), ``params``
    (the other parameters' values), ``dev`` (the resolved ``torch.device``), ``seeds``, ``claims``,
    ``prov``.
    """

    def __init__(self, name: str, mode: str, seed: int, device: str, /, *, replicas: int | None = None,
                 cpu: bool | str = False, threads: int | None = 1, show: bool = True,
                 **parameters: tuple[Any, Validator]):
        values: dict[str, Any] = {"mode": mode, "seed": seed, "device": device}
        validators: dict[str, Validator] = {"mode": MODE, "seed": SEED, "device": DEVICE}
        for key, spec in parameters.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Validator)):
                raise TypeError(f"Chapter parameter {key} must be given as ({key}, validator), got {spec!r}")
            values[key], validators[key] = spec
        check_values(values, validators)
        self.name, self.mode, self.seed, self.device = name, mode, seed, device
        self.quick = mode == "quick"
        self.params = {k: values[k] for k in parameters}
        self.validators = validators
        self.cpu_reason = (cpu if isinstance(cpu, str) else "") if cpu else None
        # a CPU chapter never asks for CUDA: it builds on a machine without one whatever `device` says
        self.dev = torch.device("cpu") if cpu else resolve_device(device)
        if threads is not None and self.dev.type == "cpu":
            torch.set_num_threads(min(threads, torch.get_num_threads()))
        self.seeds: int | list[int] = seed if replicas is None else list(range(seed, seed + replicas))
        self.prov = Provenance(name, mode, self.seeds, str(self.dev))
        self.claims = Claims(name, mode, guards=bounds.load(name) if mode == "quick" else None)
        if show:
            self._display()

    # ------------------------------------------------------------ conveniences for the chapter

    def stamp(self, fig, name: str | None = None, seeds: Sequence[int] | int | None = None) -> None:
        """Finish ``fig`` for the page: legible at the size shown (:func:`gdln.figures.style.legible`), and its
        provenance (:meth:`~gdln.book.provenance.Provenance.caption`) glued as ``<name>-provenance`` for the
        caption of the figure cell, whose metadata names the figure ``name``::

            mystnb:
              figure: {name: fig-race-5a, caption: "What to see. {glue:text}`fig-race-5a-provenance`"}
              image: {alt: "What is drawn"}
        """
        legible(fig)
        if name is not None:
            self.glue(f"{name}-provenance", self.prov.caption(seeds))

    def glue(self, name: str, value: Any) -> None:
        """Make ``value`` citable in the prose as ``{glue:text}`name:.2f``` (nothing is displayed).

        Scalars from torch or numpy are stored as Python numbers, whose text form the format spec
        can read.
        """
        from myst_nb import glue

        glue(name, scalar(value), display=False)   # a Python number: glue's text/plain is a literal

    def finish(self) -> ClaimsTable:
        """Write the claims manifest and return the claims table (the chapter's last cell)."""
        self.claims.save()
        return self.claims.table()

    # ------------------------------------------------------------ the run box

    def command(self) -> str:
        """The command that runs this chapter again with this page's values (edit them to explore)."""
        parts = ["python -m gdln.book run", self.name, "--mode", command_value(self.mode), "--seed",
                 command_value(self.seed), "--device", command_value(self.device)]
        for key, value in self.params.items():
            parts += ["-p", key, command_value(value)]
        return " ".join(parts)

    def _device_note(self) -> str:
        """How ``device`` was resolved, when that is not obvious ("" when it is the device itself)."""
        if self.cpu_reason is not None:
            why = f": {self.cpu_reason}" if self.cpu_reason else ""
            return f"this chapter always computes on the CPU{why}"
        return f"resolved to {self.dev}" if str(self.dev) != self.device else ""

    def docs(self) -> dict[str, ParameterDoc]:
        """What each parameter means and the paper's value, from the chapter's source (empty when it is not there)."""
        source = REPO_ROOT / "book" / f"{self.name}.md"
        return parameter_docs(source.read_text(encoding="utf-8")) if source.is_file() else {}

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        """``(name, meaning, this page's value, the paper's value, accepted values)`` for every parameter."""
        values = {"mode": self.mode, "seed": self.seed, "device": self.device, **self.params}
        docs = self.docs()
        none = ParameterDoc("", "", "", "")
        return [(k, docs.get(k, none).meaning, repr(values[k]), docs.get(k, none).paper, v.expected(values))
                for k, v in self.validators.items()]

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td><code>{e(k)}</code></td><td>{e(m)}</td><td><code>{e(v)}</code></td>"
                       f"<td>{e(p) or '&ndash;'}</td><td>{e(w)}</td></tr>" for k, m, v, p, w in self._rows())
        url = repository_url()
        setup = (f"<p>Get the code and its environment once (Python 3.11; no GPU needed):</p>"
                 f'<pre class="gdln-command">{e(chr(10).join(setup_commands(url)))}</pre>') if url else ""
        return (
            '<details class="gdln-run"><summary>Run this chapter yourself</summary>'
            f"<p>This page was built in <strong>{e(self.mode)}</strong> mode with seed "
            f"<strong>{e(str(self.seed))}</strong> on device <strong>{e(self.device)}</strong>"
            + (f" ({e(note)})" if (note := self._device_note()) else "") + ".</p>" + setup +
            "<p>Then run this chapter with this page's values; change any of them in the command to explore "
            "(<code>--mode full</code> runs the larger problems this page describes; the Reproduction report "
            "says the scale each claim was judged at). The executed notebook is written to "
            f"<code>_build/executed/{e(self.name)}.ipynb</code>.</p>"
            f'<pre class="gdln-command">. .venv/bin/activate\n{e(self.command())}</pre>'
            '<p>A value of 0 or <code>None</code> where the meaning says so stands for the mode&rsquo;s default '
            "(it is passed as <code>-p NAME 0</code> so the command repeats this page exactly).</p>"
            '<div class="gdln-table-scroll"><table class="gdln-parameters"><thead><tr><th>parameter</th>'
            "<th>meaning</th><th>this page</th><th>the paper</th><th>accepts</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></details>")

    def __repr__(self) -> str:
        note = f" ({self._device_note()})" if self._device_note() else ""
        lines = [f"Run this chapter: built in {self.mode} mode with seed {self.seed} on device {self.device}{note}.",
                 "To run it again with other values, change them in:", "  " + self.command()]
        lines += [f"  {k} = {v}  ({m}; paper: {p or '-'}; accepts {w})" for k, m, v, p, w in self._rows()]
        return "\n".join(lines)

    def _display(self) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with the book's dependencies
            return
        if get_ipython() is not None:
            display(self)
