"""Experiment drivers of the neural race (Sec. 4.2-4.3, Figs. 5-6) on the batched routing engine.

Each driver trains many routing networks (:mod:`gdln.engines.routing`) at once and returns what a
figure needs, next to the reduced theory (:mod:`gdln.theory.sharing`, Eqs. 16-17 and 52-56):

- :func:`train_sharing`, :func:`sharing_experiment`: P-sharing networks (Fig. 5a-b), each run as
  ``M**2/P`` independent block networks (the identity explained in :mod:`gdln.tasks.routing`), with
  the data-mode strengths ``B1, B2`` (:func:`mode_strengths`) to compare with Eqs. 16-17;
- :func:`k_sweep`, :func:`threshold_fraction`: errors on trained and untrained routes against ``K``
  (Fig. 5c);
- :func:`sigma_sweep`, :func:`lazy_safe_lr`, :func:`crossing`: generalisation against the initial
  scale ``sigma_0`` (Fig. 6, rich versus lazy regime);
- :func:`combined_race`: a shared and a private pathway side by side on every route (Sec. 4.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from gdln.engines.routing import (
    RoutingWeights,
    decoupled_routing_weights,
    init_routing_weights,
    routing_loss,
    train_routing,
)
from gdln.tasks.routing import (
    block_task,
    combined_gates,
    routing_task,
    task_modes,
    trained_route_masks,
)
from gdln.theory.sharing import block_size, half_time, integrate_sharing, n_pathways
from gdln.util.device import generator as make_gen

__all__ = ["mode_strengths", "SharingRun", "train_sharing", "stable_lr", "KSweep", "k_sweep",
    "threshold_fraction", "sharing_experiment", "lazy_safe_lr", "SigmaSweep", "sigma_sweep", "crossing",
    "CombinedRace", "combined_race"]


def mode_strengths(W, task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Singular values along the data modes read off one-pathway routing weights (any init).

    ``B1[r, i, a] = |W1[r, i] V_i[:, a]|``, ``B2[r, i, a] = |W2[r] W1[r, i] V_i[:, a]| / B1[r, i, a]``,
    ``B3[r, j, a] = |U[:, a]^T W3[r, j]|``. For decoupled weights (Eq. 9) these are exactly the
    diagonal ``B`` of Eq. 10; for random weights they are the gains along the modes.
    """
    if W.H != 1 or W.W1.dim() != 4:
        raise ValueError("mode_strengths expects one-pathway weights (H = 1, shared input/output blocks)")
    modes = task_modes(task)
    V = modes.V.to(W.W1)                                       # (M, N_x, r)
    U = modes.U.to(W.W1)                                       # (N_y, r)
    a1 = torch.einsum("riab,ibk->riak", W.W1, V)               # (R, M, N_h, r)
    B1 = a1.norm(dim=-2)
    B2 = torch.einsum("rab,ribk->riak", W.W2[:, 0], a1).norm(dim=-2) / B1.clamp_min(1e-30)
    B3 = torch.einsum("ak,rjab->rjkb", U, W.W3).norm(dim=-1)
    return B1, B2, B3


@dataclass
class SharingRun:
    """Trained P-sharing networks. ``t``: (T,) time of the full network (units of tau);
    ``loss``: (T, R) Eq. 1 of each full network (mean over its M**2 routes);
    ``B1``, ``B2``, ``B3``: (T, R, M**2/P, s, r) mode strengths of every pathway's domain blocks."""

    M: int
    P: int
    t: np.ndarray
    loss: np.ndarray
    B1: np.ndarray
    B2: np.ndarray
    B3: np.ndarray
    W0: RoutingWeights | None = None  # initial block weights (R * M**2/P replicas, on the CPU)


def train_sharing(M: int, P: int, *, R: int, sigma0: float, lr: float, steps: int, chunks: int = 40,
                  n_h: int = 64, generator: torch.Generator, scheme: str = "xavier", seed: int = 0,
                  dtype=torch.float32, W0=None) -> SharingRun:
    """Train ``R`` P-sharing networks (``M`` domains, all routes trained) by gradient descent with step ``lr``.

    Runs the ``M**2/P`` pathways of each network as ``R * M**2/P`` replicas of the block network with
    step ``lr * P / M**2`` (exact, see the comment above). ``W0`` (block weights for ``R * M**2 / P``
    replicas) overrides the random init (e.g. decoupled weights). Records every ``steps // chunks`` steps.
    """
    s = block_size(M, P)
    if not isinstance(steps, int) or steps < 1 or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"steps={steps!r} and chunks={chunks!r} must be positive integers")
    if not (lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; expected a positive step size")
    H = n_pathways(M, P)
    task = block_task(P, seed=seed, dtype=dtype)
    if W0 is None:
        W = init_routing_weights(R * H, s, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=generator,
                                 scheme=scheme, dtype=dtype)
    else:
        W = W0.to(dtype=dtype)
        if W.R != R * H:
            raise ValueError(f"W0 has {W.R} replicas, expected R * M**2/P = {R * H}")
    W_init = W.clone().to(torch.device("cpu"))
    lr_b = lr * P / M**2
    per = max(1, steps // chunks)
    ts, losses, bs = [], [], []
    done = 0

    def rec(loss_b):
        B = mode_strengths(W, task)
        bs.append([b.reshape(R, H, *b.shape[1:]).double().cpu().numpy() for b in B])
        losses.append(loss_b.reshape(R, H).mean(1).double().cpu().numpy())
        ts.append(done * lr)

    rec(routing_loss(W, task))
    while done < steps:
        n = min(per, steps - done)
        run = train_routing(W, task, lr=lr_b, steps=n, record_every=n, record_sv=False)
        W = run.W
        done += n
        rec(run.loss_trained[-1])
    return SharingRun(M=M, P=P, t=np.array(ts), loss=np.stack(losses),
                      B1=np.stack([b[0] for b in bs]), B2=np.stack([b[1] for b in bs]),
                      B3=np.stack([b[2] for b in bs]), W0=W_init)


def stable_lr(M: int, P: int, S: float, D: float, *, safety: float = 0.25) -> float:
    """A gradient-descent step (full-network time units) that is stable near the solution.

    Near convergence the largest curvature of a P-sharing pathway's loss is about
    ``(P/M**2) D B1**2 (2 B2**2/s + B1**2)`` at the Eq. 56 fixed point (``B2 = P**(1/4) B1``,
    ``B2 B1**2 = S/D``), so gradient descent needs ``lr < 2 / curvature``; we return ``safety`` times that.
    """
    s = block_size(M, P)
    b1 = (S / D / P**0.25) ** (1 / 3)
    b2 = P**0.25 * b1
    curv = (P / M**2) * D * b1**2 * (2 * b2**2 / s + b1**2)
    return safety * 2.0 / curv


@dataclass
class KSweep:
    """Fig. 5c: normalised errors of shared networks (Fig. 4a gating) for each step size, K and seed.
    ``t``: (T, nL) time (units of tau) per step size; ``trained``/``untrained``: (T, nL, nK, nS)."""

    M: int
    Ks: tuple[int, ...]
    lrs: tuple[float, ...]
    n_seeds: int
    t: np.ndarray
    trained: np.ndarray
    untrained: np.ndarray


def k_sweep(M: int, Ks: Sequence[int], n_seeds: int, *, sigma0: float, lrs: Sequence[float], steps: int,
            n_h: int = 64, seed: int = 0, record_every: int = 25, scheme: str = "xavier",
            device: str | torch.device = "cpu", dtype=torch.float32) -> KSweep:
    """Train every (step size, K, seed) shared routing network in ONE batched engine run (Fig. 5c).

    Replica ``(l, k, s)`` trains the routes of ``trained_routes(M, Ks[k], seed + s)`` from random init
    ``(k, s)`` (one generator for all) with step ``lrs[l]``: every step size trains the same networks.
    """
    Ks, lrs = tuple(int(k) for k in Ks), tuple(float(x) for x in lrs)
    if not Ks or any(not 1 <= k <= M for k in Ks):
        raise ValueError(f"Ks={Ks!r} is invalid; expected integers in 1..M={M}")
    if not lrs or any(not x > 0 for x in lrs):
        raise ValueError(f"lrs={lrs!r} is invalid; expected positive step sizes")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds!r} is invalid; expected a positive integer")
    nL, nK, nS = len(lrs), len(Ks), n_seeds
    KK = [k for _ in lrs for k in Ks for _ in range(nS)]
    SS = [seed + s for _ in lrs for _ in Ks for s in range(nS)]
    LR = torch.tensor([x for x in lrs for _ in Ks for _ in range(nS)], dtype=dtype)
    task = routing_task(M, 1, seed=seed, dtype=dtype, device=device)
    task = task.with_trained(trained_route_masks(M, KK, SS))
    g = make_gen(seed, device)
    W1 = init_routing_weights(nK * nS, M, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=g,
                              scheme=scheme, dtype=dtype)
    rep = lambda w: w.repeat(nL, *([1] * (w.dim() - 1)))   # the same networks for every step size
    W0 = type(W1)(rep(W1.W1), rep(W1.W2), rep(W1.W3))
    run = train_routing(W0, task, lr=LR.to(W0.W2.device), steps=steps, record_every=record_every,
                        record_sv=False)
    shp = (-1, nL, nK, nS)
    return KSweep(M=M, Ks=Ks, lrs=lrs, n_seeds=nS,
                  t=run.t.reshape(-1, nL, nK * nS)[:, :, 0].double().cpu().numpy(),
                  trained=run.norm_loss_trained.reshape(shp).double().cpu().numpy(),
                  untrained=run.norm_loss_untrained.reshape(shp).double().cpu().numpy())


def threshold_fraction(Ks: Sequence[int], M: int, err: Sequence[float], level: float = 0.05) -> float:
    """Smallest ``K/M`` whose error is below ``level`` (``nan`` if none): the Fig. 5c threshold."""
    err = np.asarray(err, dtype=np.float64)
    below = [k for k, e in zip(Ks, err) if np.isfinite(e) and e < level]
    return min(below) / M if below else float("nan")


def sharing_experiment(M: int, Ps: Sequence[int], *, R: int, sigma0: float, n_h: int = 64, seed: int = 0,
                       init: str = "random", horizon: float = 12.0, steps_per_run: int | None = None,
                       chunks: int = 60, dtype=torch.float32) -> dict[int, SharingRun]:
    """Train ``R`` networks for each P-sharing scheme in ``Ps`` (Fig. 5b, networks), all routes trained.

    ``init="random"``: Xavier-normal weights scaled by ``sigma0`` (Sec. 4); ``"decoupled"``: Eq. 9 weights
    with every mode's ``B1 = B2 = B3 = sigma0`` (the start assumed by Eqs. 16-17). Each scheme runs to
    ``horizon`` times its Eq. 16-17 half-time with the stable step :func:`stable_lr` (one architecture
    per call: the schemes have different numbers of pathways; seeds and pathways are batched).
    """
    if init not in ("random", "decoupled"):
        raise ValueError(f"init={init!r} is invalid; expected 'random' or 'decoupled'")
    out = {}
    for P in Ps:
        bt = block_task(P, seed=seed, dtype=dtype)
        m = task_modes(bt)
        S, D = float(m.s[0]), float(m.d[0])
        lr = stable_lr(M, P, S, D)
        t_half = float(half_time(*(lambda tr: (tr.t, tr.B2[:, 0, 0]))(integrate_sharing(
            [S], [D], M, P, sigma0, t=np.linspace(0, 80.0 * M**2 / (P * S * sigma0), 4001)))))
        steps = steps_per_run or int(math.ceil(horizon * t_half / lr))
        g = make_gen(seed + 1000 * P)
        W0 = None
        if init == "decoupled":
            W0 = decoupled_routing_weights(bt, sigma0, sigma0, R=R * n_pathways(M, P), n_h=n_h, generator=g,
                                           dtype=dtype)
        out[P] = train_sharing(M, P, R=R, sigma0=sigma0, lr=lr, steps=steps, chunks=chunks, n_h=n_h,
                               generator=g, seed=seed, dtype=dtype, W0=W0)
    return out


# ----------------------------------------------------------------------------------------------
# initialisation scale (Sec. 4.3, Fig. 6): one batched run over schemes x sigma_0 x seeds
# ----------------------------------------------------------------------------------------------

def lazy_safe_lr(sigma0, base: float = 0.15):
    """Step size for initial scale ``sigma0``: ``base / max(1, sigma0**4)``.

    A three-layer route map ``W3 W2 W1`` has gradients that scale as ``sigma0**2`` per factor pair, so
    the curvature (the neural tangent kernel) at large ``sigma0`` grows like ``sigma0**4``; keeping
    ``lr * sigma0**4`` fixed keeps gradient descent stable and near gradient flow. For ``sigma0 <= 1``
    the curvature at the learned solution (``~3 d B1**4``, about 6 here) sets ``base``.
    """
    s = np.asarray(sigma0, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigma0={sigma0!r} is invalid; expected positive initial scales")
    return base / np.maximum(1.0, s**4)


@dataclass
class SigmaSweep:
    """Fig. 6: ``t`` (T, nC, nG) time per replica; ``trained``/``untrained``/``loss``: (T, nC, nG, nS)
    normalised errors and Eq. 1 loss; ``outputs``: final (nC, nG, nS, M, M, N_y, n); ``h1``: final
    (nC, nG, nS, M, N_h, n); ``trained_mask``: (nS, M, M); ``Y``: (M, N_y, n)."""

    M: int
    K: int
    schemes: tuple[str, ...]
    sigmas: tuple[float, ...]
    n_seeds: int
    lr: np.ndarray
    t: np.ndarray
    loss: np.ndarray
    trained: np.ndarray
    untrained: np.ndarray
    outputs: torch.Tensor
    h1: torch.Tensor
    trained_mask: torch.Tensor
    Y: torch.Tensor


def sigma_sweep(M: int, K: int, sigmas: Sequence[float], n_seeds: int, *, steps: int,
                schemes: Sequence[str] = ("orthogonal",), n_h: int = 64, seed: int = 0, record_every: int = 20,
                base_lr: float = 0.15, device: str | torch.device = "cpu", dtype=torch.float32) -> SigmaSweep:
    """Train shared routing networks for every (init scheme, sigma_0, seed) in ONE batched engine run.

    Seed ``s`` fixes the trained routes ``trained_routes(M, K, seed + s)``; step size
    :func:`lazy_safe_lr` of each replica's ``sigma_0``.
    """
    sigmas, schemes = tuple(float(x) for x in sigmas), tuple(schemes)
    if not sigmas or any(not x > 0 for x in sigmas):
        raise ValueError(f"sigmas={sigmas!r} is invalid; expected positive initial scales")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds!r} is invalid; expected a positive integer")
    nC, nG, nS = len(schemes), len(sigmas), n_seeds
    sig = torch.tensor([g for _ in schemes for g in sigmas for _ in range(nS)], dtype=dtype)
    masks = trained_route_masks(M, [K] * nS, [seed + s for s in range(nS)])
    task = routing_task(M, K, seed=seed, dtype=dtype, device=device)
    task = task.with_trained(masks.repeat(nC * nG, 1, 1))
    g = make_gen(seed, device)
    parts = [init_routing_weights(nG * nS, M, task.n_x, n_h, task.n_y, sigma0=sig[c * nG * nS:(c + 1) * nG * nS],
                                  generator=g, scheme=sc, dtype=dtype) for c, sc in enumerate(schemes)]
    W0 = RoutingWeights(*(torch.cat([getattr(p, k) for p in parts]) for k in ("W1", "W2", "W3")))
    lr = torch.as_tensor(lazy_safe_lr(sig.double().numpy(), base_lr), dtype=dtype)
    run = train_routing(W0, task, lr=lr.to(W0.W2.device), steps=steps, record_every=record_every, record_sv=False)
    shp = (-1, nC, nG, nS)
    f = lambda x: x.reshape(shp).double().cpu().numpy()
    return SigmaSweep(M=M, K=K, schemes=schemes, sigmas=sigmas, n_seeds=nS, lr=lr.double().numpy().reshape(nC, nG, nS),
                      t=run.t.reshape(shp)[..., 0].double().cpu().numpy(), loss=f(run.loss_trained),
                      trained=f(run.norm_loss_trained), untrained=f(run.norm_loss_untrained),
                      outputs=run.outputs.reshape(nC, nG, nS, *run.outputs.shape[1:]).cpu(),
                      h1=run.h1[:, 0].reshape(nC, nG, nS, *run.h1.shape[2:]).cpu(),
                      trained_mask=masks, Y=task.Y.cpu())


def crossing(x: Sequence[float], y: Sequence[float], level: float, *, log_x: bool = True) -> float:
    """First ``x`` where ``y`` rises through ``level`` (interpolated, in ``log x`` if ``log_x``); nan if never."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    u = np.log(x) if log_x else x
    for k in range(1, len(x)):
        if y[k - 1] < level <= y[k]:
            f = (level - y[k - 1]) / (y[k] - y[k - 1])
            v = u[k - 1] + f * (u[k] - u[k - 1])
            return float(np.exp(v) if log_x else v)
    return float("nan")


# ----------------------------------------------------------------------------------------------
# a race inside one network: shared and private pathways on at the same time (Sec. 4.2)
# ----------------------------------------------------------------------------------------------

@dataclass
class CombinedRace:
    """``t``: (T,) time; ``shared``/``private``: (T, R) size of each pathway's output on a route, as a
    fraction of the target's size (mean over routes; private = the route's own pathway);
    ``loss``: (T, R) normalised training error."""

    t: np.ndarray
    shared: np.ndarray
    private: np.ndarray
    loss: np.ndarray


def combined_race(M: int, *, R: int, sigma0: float, lr: float, steps: int, chunks: int = 30, n_h: int = 32,
                  seed: int = 0, dtype=torch.float32) -> CombinedRace:
    """Train ``R`` combined networks (all routes trained) and track each pathway's share of the output."""
    task = routing_task(M, M, seed=seed, dtype=dtype)
    G = combined_gates(M, dtype=dtype)
    W = init_routing_weights(R, M, task.n_x, n_h, task.n_y, sigma0=sigma0, generator=make_gen(seed),
                             H=1 + M * M, per_pathway_io=True, dtype=dtype)
    ynorm = float(task.Y[0].norm())
    ii, jj = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")

    def shares(W):
        W1, W2, W3 = W.expanded()
        h2 = torch.einsum("rhab,rhibn->rhian", W2, torch.einsum("rhiab,ibn->rhian", W1, task.X))
        out = torch.einsum("rhjab,rhibn->rhijan", W3, h2).norm(dim=(-1, -2)) / ynorm   # (R, H, M, M)
        return out[:, 0].mean((1, 2)), out[:, 1 + ii * M + jj, ii, jj].mean((1, 2))

    ts, sh, pr, ls = [], [], [], []
    per, done = max(1, steps // chunks), 0
    s0 = shares(W)
    ts.append(0.0); sh.append(s0[0]); pr.append(s0[1]); ls.append(torch.ones(R, dtype=dtype))
    while done < steps:
        n = min(per, steps - done)
        run = train_routing(W, task, lr=lr, steps=n, gates=G, record_every=n, record_sv=False)
        W, done = run.W, done + n
        s = shares(W)
        ts.append(done * lr); sh.append(s[0]); pr.append(s[1]); ls.append(run.norm_loss_trained[-1])
    f = lambda x: torch.stack(x).double().numpy()
    return CombinedRace(t=np.array(ts), shared=f(sh), private=f(pr), loss=f(ls))
