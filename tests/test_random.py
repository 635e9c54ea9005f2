"""gdln.util.random: the one Haar-random orthonormal draw used by every layer."""

import pytest
import torch

from gdln.util.random import haar_orthonormal

F64 = torch.float64


@pytest.mark.parametrize("rows,cols", [(4, 4), (6, 3), (3, 6), (1, 5)])
def test_orthonormal_columns_or_rows(rows, cols):
    Q = haar_orthonormal(rows, cols, generator=torch.Generator().manual_seed(0))
    assert Q.shape == (rows, cols) and Q.dtype == F64
    k = min(rows, cols)
    gram = Q.T @ Q if rows >= cols else Q @ Q.T
    torch.testing.assert_close(gram, torch.eye(k, dtype=F64), rtol=0, atol=1e-14)


def test_batched_draw_is_the_stack_of_single_draws_from_one_stream():
    g = torch.Generator().manual_seed(3)
    Q = haar_orthonormal(5, 2, generator=g, batch=(3, 2))
    assert Q.shape == (3, 2, 5, 2)
    torch.testing.assert_close(Q.transpose(-1, -2) @ Q, torch.eye(2, dtype=F64).expand(3, 2, 2, 2),
                               rtol=0, atol=1e-14)
    # the sign fix makes diag(R) of Q's own QR positive: the draw is the Q of the Gaussian draw
    a = torch.randn(3, 2, 5, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    q, r = torch.linalg.qr(a)
    assert torch.equal(Q, q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2))


def test_seeded_dtype_and_generator_stream():
    a = haar_orthonormal(4, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float32)
    b = haar_orthonormal(4, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float32)
    assert a.dtype == torch.float32 and torch.equal(a, b)
    g = torch.Generator().manual_seed(7)
    haar_orthonormal(4, 3, generator=g)
    g2 = torch.Generator().manual_seed(7)
    torch.randn(4, 3, generator=g2, dtype=F64)        # consumes exactly one (max, min) Gaussian draw
    assert torch.equal(torch.rand(5, generator=g), torch.rand(5, generator=g2))


def test_haar_distribution_has_no_preferred_sign():
    """Without the sign fix the first column would lean towards positive first entries."""
    g = torch.Generator().manual_seed(1)
    first = haar_orthonormal(3, 3, generator=g, batch=(4000,))[:, 0, 0]
    assert abs(first.mean().item()) < 0.05


def test_bad_sizes():
    with pytest.raises(ValueError, match="rows=0"):
        haar_orthonormal(0, 2, generator=torch.Generator())
    with pytest.raises(ValueError, match="cols=True"):
        haar_orthonormal(2, True, generator=torch.Generator())
