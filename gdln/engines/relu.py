"""A small batched ReLU network trainer and a cell-type classifier (Sec. 3, Fig. 3a,c; App. A.1).

The network is one hidden ReLU layer without biases, ``yhat = W2 relu(W1 x)``, trained by full-batch
gradient descent on the L2 loss of Eq. 1,

    L = < 1/2 ||y - yhat||^2 >_examples ,

in the time convention of Eq. 2, ``tau dW/dt = -dL/dW``: one step advances ``t`` by ``dt`` and updates
``W <- W + (dt/tau) (-dL/dW)``. Many networks are trained at once: weights carry leading replica
axes, ``W1: (..., N_h, n_in)`` and ``W2: (..., n_out, N_h)``; the data ``x: (n, n_in)``,
``y: (n, n_out)`` are shared by all replicas.

:func:`classify_cell_types` sorts hidden units by the direction of their input weight vector (the
rows of ``W1``), which is how Fig. 3a reveals four functional cell types on XoR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["init_relu", "relu_forward", "relu_loss", "relu_gradient", "ReluTrajectory", "train_relu",
    "CellTypes", "classify_cell_types"]


def _check_positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


def _check_positive(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite positive number, got {v!r}")
    return float(v)


def init_relu(n_in: int, n_h: int, n_out: int, sigma0: float, *, generator: torch.Generator,
              replicas: Sequence[int] = (), dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Small random weights: every entry of ``W1`` and ``W2`` i.i.d. ``N(0, sigma0^2)``.

    No fan-in scaling (Fig. 3 gives one ``sigma_0`` for all weights). Returns ``(W1, W2)`` with
    shapes ``(*replicas, n_h, n_in)`` and ``(*replicas, n_out, n_h)`` on the generator's
    device.
    """
    for name, v in (("n_in", n_in), ("n_h", n_h), ("n_out", n_out)):
        _check_positive_int(name, v)
    if isinstance(sigma0, bool) or not isinstance(sigma0, (int, float)) or not math.isfinite(sigma0) or sigma0 < 0:
        raise ValueError(f"sigma0 must be a finite non-negative number, got {sigma0!r}")
    replicas = tuple(replicas)
    if any(isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in replicas):
        raise ValueError(f"replicas must be a tuple of positive integers, got {replicas!r}")
    dev = generator.device
    W1 = sigma0 * torch.randn(*replicas, n_h, n_in, generator=generator, dtype=dtype, device=dev)
    W2 = sigma0 * torch.randn(*replicas, n_out, n_h, generator=generator, dtype=dtype, device=dev)
    return W1, W2


def _check_shapes(W1: Tensor, W2: Tensor, x: Tensor, y: Tensor | None = None) -> None:
    if W1.dim() < 2 or W2.dim() < 2:
        raise ValueError(f"W1 and W2 need at least 2 dims (..., rows, cols); got shapes {tuple(W1.shape)}, "
                         f"{tuple(W2.shape)}")
    if W1.shape[:-2] != W2.shape[:-2]:
        raise ValueError(f"W1 and W2 must share replica axes; got {tuple(W1.shape[:-2])} vs {tuple(W2.shape[:-2])}")
    if W2.shape[-1] != W1.shape[-2]:
        raise ValueError(f"W2 has {W2.shape[-1]} columns but W1 has {W1.shape[-2]} hidden units (rows)")
    if x.dim() != 2 or x.shape[1] != W1.shape[-1]:
        raise ValueError(f"x must have shape (n, {W1.shape[-1]}), got {tuple(x.shape)}")
    if y is not None and (y.dim() != 2 or y.shape[0] != x.shape[0] or y.shape[1] != W2.shape[-2]):
        raise ValueError(f"y must have shape ({x.shape[0]}, {W2.shape[-2]}), got {tuple(y.shape)}")


def relu_forward(W1: Tensor, W2: Tensor, x: Tensor) -> Tensor:
    """Outputs ``yhat = W2 relu(W1 x)`` for every example, shape ``(..., n, n_out)``."""
    _check_shapes(W1, W2, x)
    h = torch.relu(x @ W1.transpose(-1, -2))           # (..., n, N_h)
    return h @ W2.transpose(-1, -2)                      # (..., n, n_out)


def relu_loss(W1: Tensor, W2: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Eq. 1 for the ReLU network: ``< 1/2 ||y - yhat||^2 >`` averaged over examples, shape ``(...)``."""
    _check_shapes(W1, W2, x, y)
    err = y - relu_forward(W1, W2, x)
    return 0.5 * err.pow(2).sum(-1).mean(-1)


def relu_gradient(W1: Tensor, W2: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(-dL/dW1, -dL/dW2)`` by the manual back-propagation formula (the RHS of ``tau dW/dt``).

    With pre-activations ``z = W1 x``, gates ``g = step(z)`` (``step(0) = 0``, as torch's ReLU),
    hidden ``h = g z`` and errors ``e = y - yhat``:
    ``-dL/dW2 = <e h^T>`` and ``-dL/dW1 = <(g * W2^T e) x^T>``.
    """
    _check_shapes(W1, W2, x, y)
    n = x.shape[0]
    z = x @ W1.transpose(-1, -2)                          # (..., n, N_h)
    g = (z > 0).to(z.dtype)
    h = g * z
    e = y - h @ W2.transpose(-1, -2)                      # (..., n, n_out)
    G2 = e.transpose(-1, -2) @ h / n                      # (..., n_out, N_h)
    G1 = (g * (e @ W2)).transpose(-1, -2) @ x / n         # (..., N_h, n_in)
    return G1, G2


@dataclass
class ReluTrajectory:
    """A recorded training run. ``t``: (T,) times in the units of ``tau`` dW/dt;
    ``loss``: (T, ...); ``outputs``: (T, ..., n, n_out) network outputs at those times;
    ``W1``, ``W2``: final weights; ``W1_history``: (T, ..., N_h, n_in) if recorded."""

    t: Tensor
    loss: Tensor
    outputs: Tensor
    W1: Tensor
    W2: Tensor
    W1_history: Tensor | None = None


@torch.no_grad()
def train_relu(W1: Tensor, W2: Tensor, x: Tensor, y: Tensor, *, tau: float, dt: float, t_max: float,
               record_every: int = 1, record_weights: bool = False) -> ReluTrajectory:
    """Full-batch gradient descent, ``W <- W + (dt/tau) (-dL/dW)``, from ``t = 0`` to ``t_max``.

    ``round(t_max/dt)`` steps are taken; the loss and outputs are recorded at step 0 and every
    ``record_every`` steps (and at the last step). The inputs are not modified. Gradient descent
    approximates the gradient flow of Eq. 2 when ``dt/tau`` times the largest curvature is small.
    """
    tau = _check_positive("tau", tau)
    dt = _check_positive("dt", dt)
    t_max = _check_positive("t_max", t_max)
    _check_positive_int("record_every", record_every)
    if dt > tau:
        raise ValueError(f"dt={dt!r} exceeds tau={tau!r}; gradient descent with step dt/tau > 1 is not "
                         "an approximation of the gradient flow")
    _check_shapes(W1, W2, x, y)
    if not (W1.dtype == W2.dtype == x.dtype == y.dtype):
        raise ValueError(f"dtypes differ: W1 {W1.dtype}, W2 {W2.dtype}, x {x.dtype}, y {y.dtype}")
    n_steps = int(round(t_max / dt))
    small = W1.device.type == "cpu" and W1.numel() * x.shape[0] < 2 ** 18
    threads = torch.get_num_threads()
    if small:  # tiny matrices: thread start-up costs more than the arithmetic (20x on 2 cores)
        torch.set_num_threads(1)
    try:
        return _gd_loop(W1, W2, x, y, n_steps=n_steps, dt=dt, lr=dt / tau, record_every=record_every,
                        record_weights=record_weights)
    finally:
        torch.set_num_threads(threads)


def _gd_loop(W1, W2, x, y, *, n_steps, dt, lr, record_every, record_weights) -> ReluTrajectory:
    W1, W2 = W1.clone(), W2.clone()
    xT = x.transpose(0, 1)
    n = x.shape[0]
    ts, losses, outs, hist = [], [], [], []

    def record(step: int, out: Tensor) -> None:
        ts.append(step * dt)
        losses.append(0.5 * (y - out).pow(2).sum(-1).mean(-1))
        outs.append(out)
        if record_weights:
            hist.append(W1.clone())

    for step in range(n_steps + 1):
        z = torch.matmul(W1, xT).transpose(-1, -2)        # (..., n, N_h)
        g = (z > 0).to(z.dtype)
        h = g * z
        out = h @ W2.transpose(-1, -2)
        if step % record_every == 0 or step == n_steps:
            record(step, out)
        if step == n_steps:
            break
        e = y - out
        G2 = e.transpose(-1, -2) @ h
        G1 = (g * (e @ W2)).transpose(-1, -2) @ x
        W1.add_(G1, alpha=lr / n)
        W2.add_(G2, alpha=lr / n)
    return ReluTrajectory(t=torch.tensor(ts, dtype=x.dtype), loss=torch.stack(losses), outputs=torch.stack(outs),
                          W1=W1, W2=W2, W1_history=torch.stack(hist) if record_weights else None)


@dataclass
class CellTypes:
    """Hidden units sorted by input-weight direction.

    ``label``: (..., N_h) index of the direction within ``max_angle_deg`` (-1: none, -2: negligible
    norm); ``angle``: (..., N_h) angle in degrees to the nearest direction; ``norm``: (..., N_h);
    ``significant``: (..., N_h) bool; ``fraction``: (...) aligned / significant units;
    ``counts``: (..., n_directions) units of each type.
    """

    label: Tensor
    angle: Tensor
    norm: Tensor
    significant: Tensor
    fraction: Tensor
    counts: Tensor


def classify_cell_types(W1: Tensor, directions: Tensor, *, max_angle_deg: float = 10.0,
                        min_norm_frac: float = 0.01) -> CellTypes:
    """Assign each hidden unit to the data direction its input weights point along (Fig. 3a).

    A unit is *significant* when ``||w|| >= min_norm_frac * max_j ||w_j||`` within its network
    (units that never grew keep their tiny initial norm). A significant unit has type ``k`` when the
    angle between ``w`` and ``directions[k]`` is at most ``max_angle_deg``.
    """
    if W1.dim() < 2:
        raise ValueError(f"W1 must have shape (..., N_h, n_in), got {tuple(W1.shape)}")
    if directions.dim() != 2 or directions.shape[1] != W1.shape[-1]:
        raise ValueError(f"directions must have shape (k, {W1.shape[-1]}), got {tuple(directions.shape)}")
    if not (0 < max_angle_deg < 90):
        raise ValueError(f"max_angle_deg must lie in (0, 90), got {max_angle_deg!r}")
    if not (0 <= min_norm_frac < 1):
        raise ValueError(f"min_norm_frac must lie in [0, 1), got {min_norm_frac!r}")
    D = directions.to(W1.dtype)
    dn = D.norm(dim=-1)
    if bool((dn == 0).any()):
        raise ValueError("directions contains a zero vector")
    norm = W1.norm(dim=-1)                                              # (..., N_h)
    cos = (W1 @ (D / dn[:, None]).T) / norm.clamp_min(torch.finfo(W1.dtype).tiny)[..., None]
    best_cos, best = cos.clamp(-1, 1).max(dim=-1)
    angle = torch.rad2deg(torch.arccos(best_cos))
    significant = norm >= min_norm_frac * norm.max(dim=-1, keepdim=True).values
    significant &= norm > 0
    aligned = significant & (angle <= max_angle_deg)
    label = torch.where(aligned, best, torch.full_like(best, -1))
    label = torch.where(significant, label, torch.full_like(best, -2))
    fraction = aligned.sum(-1).to(W1.dtype) / significant.sum(-1).clamp_min(1).to(W1.dtype)
    counts = torch.stack([(label == k).sum(-1) for k in range(D.shape[0])], dim=-1)
    return CellTypes(label=label, angle=angle, norm=norm, significant=significant, fraction=fraction,
                     counts=counts)
