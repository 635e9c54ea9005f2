"""Measurements on routing networks (Fig. 4e-h, Fig. 5c, Fig. 6b-d).

- route errors: loss on trained and untrained routes, normalised by the loss of the zero output;
- singular values of each layer (Fig. 4f);
- representational similarity at the first hidden layer (Fig. 4g, Fig. 6c) and two summaries of it:
  the similarity of the same item presented on different input domains, and of different items.
All functions are batched over leading axes and work on any device.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["masked_mean", "route_losses", "zero_output_loss", "route_errors", "normalised_error",
    "layer_singular_values", "representational_similarity", "domain_item_similarity", "effective_initial_B",
    "aligned_initial_B"]


def route_losses(outputs: Tensor, Y: Tensor) -> Tensor:
    """Per-route loss ``(1/2n) sum_mu ||Y_j - yhat_ij||^2``: outputs ``(..., M, M, N_y, n)``, ``Y`` ``(M, N_y, n)``
    -> ``(..., M, M)``."""
    if outputs.shape[-3:] != Y.shape or outputs.shape[-4] != Y.shape[0]:
        raise ValueError(f"outputs (..., M, M, N_y, n) {tuple(outputs.shape)} do not match Y (M, N_y, n) {tuple(Y.shape)}")
    return 0.5 * ((Y.to(outputs) - outputs) ** 2).sum((-1, -2)) / Y.shape[-1]


def masked_mean(x: Tensor, m: Tensor) -> Tensor:
    """Mean of ``x`` over the routes where the mask ``m`` is on (last two axes, ``(..., M, M)``): the mean
    loss over trained or untrained routes. ``m`` (boolean or 0/1) is cast to ``x``'s dtype; NaN where
    the mask selects no route."""
    m = m.to(x.dtype)
    c = m.sum((-1, -2))
    return torch.where(c > 0, (x * m).sum((-1, -2)) / c.clamp_min(1), torch.full_like(c, float("nan")))


def zero_output_loss(Y: Tensor, trained: Tensor) -> tuple[Tensor, Tensor]:
    """The loss of the zero output on trained and on untrained routes (the normaliser of Fig. 5c / 6b)."""
    z = 0.5 * (Y ** 2).sum((-1, -2)) / Y.shape[-1]          # (M,) per output domain
    M = Y.shape[0]
    z = z.view(1, M).expand(M, M).to(Y.dtype)
    m = trained.to(Y.device)
    return masked_mean(z, m), masked_mean(z, ~m.bool())


def route_errors(outputs: Tensor, Y: Tensor, trained: Tensor, *, normalise: bool = True) -> tuple[Tensor, Tensor]:
    """Mean loss over trained and over untrained routes (NaN where there are none), each divided by the
    zero-output loss when ``normalise``. ``trained``: ``(M, M)`` or ``(..., M, M)`` boolean."""
    L = route_losses(outputs, Y)
    m = trained.to(L.device).bool()
    tr, un = masked_mean(L, m), masked_mean(L, ~m)
    if normalise:
        z_tr, z_un = zero_output_loss(Y.to(L), m)
        tr, un = tr / z_tr, un / z_un
    return tr, un


def normalised_error(loss: Tensor, zero_loss: Tensor) -> Tensor:
    """``loss / zero_loss``: 1 for the zero output, 0 for a perfect one."""
    return loss / zero_loss


def layer_singular_values(W) -> dict[str, Tensor]:
    """Singular values (descending) of every block of every layer: ``{"W1": ..., "W2": ..., "W3": ...}``."""
    return {name: torch.linalg.svdvals(getattr(W, name)) for name in ("W1", "W2", "W3")}


def representational_similarity(h1: Tensor, *, cosine: bool = True) -> Tensor:
    """Similarity of first-hidden-layer activity for every (domain, item) pair (Fig. 4g).

    ``h1``: ``(..., M, N_h, n)`` (e.g. ``run.h1[:, 0]`` for pathway 0). Returns ``(..., M n, M n)`` with
    rows/columns ordered domain-major (``i * n + mu``): dot products, or cosines if ``cosine``.
    """
    M, N, n = h1.shape[-3:]
    z = h1.transpose(-1, -2).reshape(*h1.shape[:-3], M * n, N)
    if cosine:
        z = z / z.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
    return z @ z.transpose(-1, -2)


def domain_item_similarity(h1: Tensor) -> dict[str, Tensor]:
    """Summaries of the cosine similarity matrix (Sec. 4.1): mean over pairs of

    - ``same_item_cross_domain``: the same item on two different input domains (1 = shared representation);
    - ``cross_item_cross_domain``: different items on different domains;
    - ``cross_item_same_domain``: different items on the same domain.
    """
    M, _, n = h1.shape[-3:]
    S = representational_similarity(h1, cosine=True)
    dom = torch.arange(M, device=h1.device).repeat_interleave(n)
    item = torch.arange(n, device=h1.device).repeat(M)
    same_d = dom[:, None] == dom[None, :]
    same_i = item[:, None] == item[None, :]
    out = {}
    for key, m in (("same_item_cross_domain", same_i & ~same_d), ("cross_item_cross_domain", ~same_i & ~same_d),
                   ("cross_item_same_domain", ~same_i & same_d)):
        out[key] = (S * m).sum((-1, -2)) / m.sum()
    return out


def effective_initial_B(W) -> tuple[Tensor, Tensor]:
    """Initial conditions of Eq. 15 read off random weights: root-mean-square singular values.

    ``B1(0)`` = RMS singular value of the input and output blocks together (they play the same role
    in the balanced reduction), ``B2(0)`` = RMS singular value of the hidden pathway; shape ``(R,)``.
    Random weights have no preferred alignment with the data modes; this choice gives each mode the
    typical gain of the layer (the alignment itself is not modelled).
    """
    sv = layer_singular_values(W)
    b13 = torch.cat([sv["W1"].flatten(1) ** 2, sv["W3"].flatten(1) ** 2], 1).mean(1).sqrt()
    b2 = (sv["W2"].flatten(1) ** 2).mean(1).sqrt()
    return b13, b2


def aligned_initial_B(W, U: Tensor, V: Tensor, trained: Tensor) -> tuple[Tensor, Tensor]:
    """A-priori initial condition of Eqs. 13-15 for random weights: the silent-alignment strengths of the shared mode.

    ``W``: one-pathway routing weights (``W1``: ``(R, M, N_h, N_x)``, ``W2``: ``(R, 1, N_h, N_h)``,
    ``W3``: ``(R, M, N_y, N_h)``); ``U`` ``(N_y, r)`` and ``V`` ``(M, N_x, r)``: the data modes
    (:func:`gdln.tasks.routing.task_modes`); ``trained``: the ``(M, M)`` mask of trained routes, which
    must be ``K``-regular (every input and every output domain has ``K`` trained partners). Returns
    ``(B1, B2)``, each ``(R, r)``; no quantity is fitted.

    Derivation. For small weights the saturation term of Eq. 10 is negligible and mode ``a`` follows the
    gradient of ``(s_a / KM) sum_{(i,j) trained} z_j^T W2 x_i`` with ``x_i = W1_i v_{i,a}`` and
    ``z_j = W3_j^T u_a`` (Eqs. 11-12). A ``K``-regular mask has the uniform vector as its top singular
    vector, with singular value ``K``, so the common parts ``x~ = M^{-1/2} sum_i x_i`` and
    ``z~ = M^{-1/2} sum_j z_j`` obey ``dx~ = (s/M) W2^T z~``, ``dz~ = (s/M) W2 x~``: exactly Eq. 13 with
    ``x~ = sqrt(M) B1 r``. Every other component of the mask grows ``g_k / K < 1`` times slower and is
    neglected. Holding ``W2`` at its initial gain ``b = |W2 x~| / |x~|``, the half-sum
    ``p = (x~ + W2^T z~ / b) / 2`` grows like ``exp(s b t / M)`` while the half-difference decays (the
    silent alignment of the two-layer case, :func:`gdln.theory.modes.silent_alignment_a0`), after which
    the network is decoupled with ``sqrt(M) B1 = |p|`` along the hidden direction ``p / |p|``, on which
    ``W2`` has the gain ``B2 = |W2 p| / |p|`` (Eq. 9's ``r2^T W2 r1`` with ``r1 = p / |p|``). Random
    input blocks point in unrelated directions, so ``|x~|`` is about one block's gain, not ``sqrt(M)``
    of it: ``B1`` is about ``b1 / sqrt(2M)`` for blocks of gain ``b1``. Exact for decoupled weights
    (Eq. 9); for orthogonal weights ``W2`` has one singular value, ``B2 = sigma_0``, and the only
    approximation is the neglected components; for Gaussian (Xavier) weights ``W2^T z~`` leans towards
    ``W2``'s larger singular directions, so ``B2`` is about ``1.22 sigma_0`` (``sqrt(3/2)`` for a square
    Gaussian ``W2``, whose singular values have ``E s^4 = 2 sigma_0^4``), and the alignment with a
    spread of singular values is modelled only through that gain.
    """
    if W.W1.dim() != 4 or W.W2.dim() != 4 or W.W2.shape[1] != 1:
        raise ValueError("aligned_initial_B expects one-pathway weights: W1 (R, M, N_h, N_x), W2 (R, 1, N_h, N_h)")
    M = W.W1.shape[1]
    m = torch.as_tensor(trained).to(torch.float64)
    if m.shape != (M, M):
        raise ValueError(f"trained has shape {tuple(m.shape)}; expected the ({M}, {M}) mask of trained routes")
    rows, cols = m.sum(1), m.sum(0)
    if not (torch.all(rows == rows[0]) and torch.all(cols == rows[0]) and rows[0] > 0):
        raise ValueError(f"trained is not K-regular (trained routes per input domain {rows.tolist()}, per output "
                         f"domain {cols.tolist()}); expected the same K >= 1 for every domain")
    W1, W2, W3 = W.W1.double(), W.W2[:, 0].double(), W.W3.double()
    U, V = U.to(W1), V.to(W1)
    x = torch.einsum("rmhx,mxa->rha", W1, V) / M ** 0.5         # (R, N_h, r): common part of the input blocks
    z = torch.einsum("rmyh,ya->rha", W3, U) / M ** 0.5           # (R, N_h, r): common part of the output blocks
    b = torch.einsum("rgh,rha->rga", W2, x).norm(dim=1) / x.norm(dim=1)      # W2's gain on x~
    p = 0.5 * (x + torch.einsum("rgh,rga->rha", W2, z) / b.unsqueeze(1))
    B2 = torch.einsum("rgh,rha->rga", W2, p).norm(dim=1) / p.norm(dim=1)     # W2's gain on the aligned mode
    return p.norm(dim=1) / M ** 0.5, B2
