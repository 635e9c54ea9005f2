"""Random draws shared by every layer: Haar-random matrices with orthonormal columns or rows.

One implementation serves the orthonormal item vectors of the routing task (Fig. 4c), the
orthogonal initial weights of the routing engine, the random mode bases of the reduction
(Eqs. 7-9) and the mixing matrices of :func:`gdln.core.statistics.same_statistics_data`, so that
all of them consume a generator's stream in the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["haar_orthonormal"]


def haar_orthonormal(rows: int, cols: int, *, generator: torch.Generator, batch: tuple[int, ...] = (),
                     dtype: torch.dtype = torch.float64) -> Tensor:
    """A Haar-random ``rows x cols`` matrix (or a ``(*batch, rows, cols)`` stack of independent ones)
    with orthonormal columns if ``rows >= cols``, orthonormal rows otherwise; ``rows == cols``: orthogonal.

    Draws one float64 Gaussian tensor ``(*batch, max(rows, cols), min(rows, cols))`` from
    ``generator`` (on the generator's device), takes its QR decomposition and multiplies each column
    of ``Q`` by the sign of the matching diagonal entry of ``R``, which makes the distribution the
    Haar measure; a wide matrix is the transpose of the tall one. The result is cast to ``dtype``.
    """
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not hasattr(v, "__index__") or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; expected a positive integer")
    rows, cols = int(rows), int(cols)
    a = torch.randn(*batch, max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64,
                    device=generator.device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    q = q if rows >= cols else q.transpose(-1, -2)
    return q.to(dtype)
