"""Helpers shared by the library tests: float64, seeded generators, float64 tolerances, small problems.

Import with ``from helpers import ...`` (pytest puts ``tests/`` on the path). Every comparison helper
uses ``rtol=0``: the tolerances below are absolute, sized for float64 round-off, so that a test states
how exact a result is by naming one of them (or a looser number with a reason).
"""

from __future__ import annotations

import textwrap

import pytest
import torch

from gdln.core.graph import random_graph
from gdln.core.network import init_weights, random_gated_data

F64 = torch.float64

#: Two evaluations of the same few float64 operations in a different order.
EXACT = 1e-14
#: float64 round-off accumulated over sums of paths, examples, modes or replicas.
ROUNDOFF = 1e-12

#: Skip a test on a machine without CUDA.
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


def gen(seed: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``seed`` (on ``device``)."""
    return torch.Generator(device=device).manual_seed(int(seed))


def close(actual, expected, atol: float = ROUNDOFF) -> None:
    """``torch.testing.assert_close`` with ``rtol=0`` and an absolute tolerance (default :data:`ROUNDOFF`)."""
    torch.testing.assert_close(actual, expected, rtol=0, atol=atol)


def close_dicts(actual: dict, expected: dict, atol: float = ROUNDOFF) -> None:
    """Same keys, and :func:`close` for every value."""
    assert actual.keys() == expected.keys()
    for k in actual:
        close(actual[k], expected[k], atol)


def random_network(seed: int, *, n: int = 17, scale: float = 1.0, replicas: tuple[int, ...] = (),
                   data_seed: int | None = None, **graph_kw):
    """``(graph, weights, data)``: :func:`~gdln.core.graph.random_graph` ``(seed, **graph_kw)``, float64
    weights of scale ``scale`` and ``n`` gated examples, both drawn (in that order) from one generator
    seeded with ``data_seed`` (default ``seed``)."""
    g = random_graph(seed, **graph_kw)
    rng = gen(seed if data_seed is None else data_seed)
    W = init_weights(g, scale, generator=rng, dtype=F64, replicas=replicas)
    return g, W, random_gated_data(g, n, generator=rng)


#: The front matter of a chapter (jupytext MyST notebook), as book/*.md have it.
FRONT_MATTER = textwrap.dedent("""\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      name: python3
      display_name: Python 3
      language: python
    ---
    """)


def chapter_md(title: str, params: str, *cells: str) -> str:
    """The source of a small chapter for the runner's tests: a title, a parameters cell, then code cells."""
    body = "".join(f"```{{code-cell}} ipython3\n{textwrap.dedent(c).strip()}\n```\n\n" for c in cells)
    return f"{FRONT_MATTER}# {title}\n\n```{{code-cell}} ipython3\n:tags: [parameters]\n{params.strip()}\n```\n\n{body}"
