"""A small batched ReLU network trainer and a cell-type classifier (Sec. 3, Fig. 3a,c; App. A.1).

The network is one hidden ReLU layer without biases, ``yhat = W2 relu(W1 x)``, trained by full-batch
gradient descent on the L2 loss of Eq. 1 (:func:`train_relu`),

    L = < 1/2 ||y - yhat||^2 >_examples ,

in the time convention of Eq. 2, ``tau dW/dt = -dL/dW``: one step advances ``t`` by ``dt`` and updates
``W <- W + (dt/tau) (-dL/dW)``. Many networks are trained at once: weights carry leading replica
axes, ``W1: (..., N_h, n_in)`` and ``W2: (..., n_out, N_h)``; the data ``x: (n, n_in)``,
``y: (n, n_out)`` are shared by all replicas.

:func:`train_relu_sgd` trains the same network under the protocols practice uses instead of the
theory's: weighted examples, the squared error or softmax cross-entropy (with one-hot or soft targets,
e.g. a teacher's, which may differ per replica), minibatch SGD (each replica draws its own minibatch)
and heavy-ball momentum. Full-batch, squared error, no momentum is :func:`train_relu`'s step exactly.

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
    "LOSSES", "output_loss", "train_relu_sgd", "CellTypes", "classify_cell_types"]

#: Losses of :func:`train_relu_sgd`: Eq. 1's squared error, and softmax cross-entropy.
LOSSES: tuple[str, ...] = ("mse", "ce")


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


def output_loss(out: Tensor, y: Tensor, loss: str = "mse") -> tuple[Tensor, Tensor]:
    """Per-example loss ``(..., n)`` and its gradient with respect to the outputs ``(..., n, n_out)``.

    ``"mse"``: ``1/2 ||y - out||^2``, gradient ``out - y`` (Eq. 1). ``"ce"``: ``-sum_k y_k log softmax(out)_k``
    with ``y`` a probability vector (one-hot or soft), gradient ``softmax(out) - y``.
    """
    if loss == "mse":
        res = out - y
        return 0.5 * res.pow(2).sum(-1), res
    if loss == "ce":
        logp = torch.log_softmax(out, -1)
        return -(y * logp).sum(-1), logp.exp() - y
    raise ValueError(f"loss={loss!r} is invalid; expected one of {LOSSES}")


@torch.no_grad()
def train_relu_sgd(W1: Tensor, W2: Tensor, x: Tensor, y: Tensor, *, lr: float, steps: int, loss: str = "mse",
                   weights: Tensor | None = None, batch_size: int | None = None, momentum: float = 0.0,
                   generator: torch.Generator | None = None, record_every: int = 1,
                   probe: Tensor | None = None) -> ReluTrajectory:
    """Train ``yhat = W2 relu(W1 x)`` on ``L = sum_i w_i loss(y_i, yhat_i)`` by (stochastic) gradient descent.

    ``weights (n,)``: the probability of each example (default ``1/n``); ``y``: ``(n, n_out)`` or, one set of
    targets per replica, ``(..., n, n_out)`` (for ``"ce"`` every row is a probability vector).
    ``batch_size=None``: the exact gradient of ``L`` (full batch); else each replica draws ``batch_size``
    examples with replacement from ``weights`` (from ``generator``) and averages their gradients, an unbiased
    estimate of it. ``momentum`` ``beta``: the heavy ball of ``torch.optim.SGD`` (``b <- beta b + g``,
    ``W <- W - lr b``, ``b = g`` at the first step), so the step is ``lr / (1 - beta)`` once the buffer has
    built up. ``steps`` updates; at step 0, every ``record_every`` steps and at the end the full loss ``L``
    and the outputs on ``probe`` (default ``x``) are recorded; ``t = step * lr`` (units of tau, as
    :func:`train_relu` with ``dt/tau = lr``). The inputs are not modified.
    """
    lr = _check_positive("lr", lr)
    _check_positive_int("steps", steps)
    _check_positive_int("record_every", record_every)
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is invalid; expected one of {LOSSES}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum={momentum!r} is invalid; expected a number in [0, 1)")
    _check_shapes(W1, W2, x)
    rep = W1.shape[:-2]
    n = x.shape[0]
    if y.dim() < 2 or y.shape[-2:] != (n, W2.shape[-2]) or y.shape[:-2] not in ((), rep):
        raise ValueError(f"y has shape {tuple(y.shape)}; expected ({n}, {W2.shape[-2]}) or "
                         f"({', '.join(map(str, rep))}, {n}, {W2.shape[-2]}) (one set of targets per replica)")
    if loss == "ce" and ((y < 0).any() or ((y.sum(-1) - 1).abs() > 1e-5).any()):
        raise ValueError("loss='ce' needs targets y that are probability vectors (rows >= 0 summing to 1)")
    w = torch.full((n,), 1.0 / n, dtype=x.dtype, device=x.device) if weights is None else weights.to(x)
    if w.shape != (n,) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-6:
        raise ValueError(f"weights must be {n} probabilities (>= 0, sum 1), got shape {tuple(w.shape)}, sum {float(w.sum())!r}")
    if batch_size is not None:
        _check_positive_int("batch_size", batch_size)
        if not isinstance(generator, torch.Generator):
            raise ValueError("batch_size needs a torch.Generator (every minibatch draw is seeded)")
    if probe is not None and (probe.dim() != 2 or probe.shape[1] != x.shape[1]):
        raise ValueError(f"probe must have shape (n_probe, {x.shape[1]}), got {tuple(probe.shape)}")
    if not (W1.dtype == W2.dtype == x.dtype == y.dtype):
        raise ValueError(f"dtypes differ: W1 {W1.dtype}, W2 {W2.dtype}, x {x.dtype}, y {y.dtype}")
    W1, W2 = W1.clone(), W2.clone()
    yr = y.expand(*rep, n, y.shape[-1])
    probe = x if probe is None else probe
    R = int(torch.tensor(rep).prod()) if rep else 1
    b1 = torch.zeros_like(W1) if momentum else None
    b2 = torch.zeros_like(W2) if momentum else None
    ts, losses, outs = [], [], []
    for step in range(steps + 1):
        if step % record_every == 0 or step == steps:
            per, _ = output_loss(relu_forward(W1, W2, x), yr, loss)
            ts.append(step * lr)
            losses.append((per * w).sum(-1))
            outs.append(relu_forward(W1, W2, probe))
        if step == steps:
            break
        if batch_size is None:
            xb, yb, wb = x, yr, w[:, None]
        else:
            idx = torch.multinomial(w.expand(R, n), batch_size, replacement=True, generator=generator)
            idx = idx.to(x.device).reshape(*rep, batch_size)
            xb = x[idx]                                                     # (..., B, n_in)
            yb = torch.gather(yr, -2, idx[..., None].expand(*idx.shape, yr.shape[-1]))
            wb = torch.full((batch_size, 1), 1.0 / batch_size, dtype=x.dtype, device=x.device)
        z = xb @ W1.transpose(-1, -2)                                       # (..., B, N_h)
        g = (z > 0).to(z.dtype)
        h = g * z
        _, dout = output_loss(h @ W2.transpose(-1, -2), yb, loss)
        dout = dout * wb                                                    # dL/dout of each example
        G2 = dout.transpose(-1, -2) @ h                                     # dL/dW2
        G1 = (g * (dout @ W2)).transpose(-1, -2) @ xb                       # dL/dW1
        if momentum:
            b1.mul_(momentum).add_(G1)
            b2.mul_(momentum).add_(G2)
            G1, G2 = b1, b2
        W1.sub_(G1, alpha=lr)
        W2.sub_(G2, alpha=lr)
    return ReluTrajectory(t=torch.tensor(ts, dtype=x.dtype), loss=torch.stack(losses), outputs=torch.stack(outs),
                          W1=W1, W2=W2)


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
