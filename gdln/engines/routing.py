"""A batched engine that trains many routing networks (Sec. 4, Fig. 4; Fig. 5a) at once.

The task (``M`` input and output domains, routes ``(i, j)``, ``K`` trained routes per domain, the
hierarchical data of Fig. 4c) is :mod:`gdln.tasks.routing`; this module holds the networks, their
initialisation, the hand-written gradient of Eq. 1 for all replicas at once (:func:`train_routing`),
the float64 gradient flow for exactness checks (:func:`integrate_routing_flow`), and the conversion to
and from the core GDLN weights of :func:`gdln.tasks.routing.routing_graph`.

The network (Fig. 4a-b), generalised for the race chapter (Fig. 5a)
-------------------------------------------------------------------
``H`` hidden pathways, each a chain ``x_i -> h1 -> h2 -> y_j``::

    h1[h, i]  = W1[h, i] x_i          (first layer: one block per input domain, optionally per pathway)
    h2[h, i]  = W2[h] h1[h, i]        (hidden pathway h)
    yhat[i,j] = sum_h G[i, j, h] W3[h, j] h2[h, i]

``G[i, j, h]`` is the gate of pathway ``h`` on route ``(i, j)``. The shared network of Fig. 4 is
``H = 1`` and ``G = 1``. An integer assignment ``pathway[i, j]`` (route ``(i, j)`` uses pathway
``pathway[i, j]``) is turned into one-hot gates by :func:`pathway_gates`. ``W1`` may be shared by all
pathways, shape ``(R, M, N_h, N_x)``, or owned by each pathway, shape ``(R, H, M, N_h, N_x)``; the
same for ``W3``: ``(R, M, N_y, N_h)`` or ``(R, H, M, N_y, N_h)``. ``W2`` is ``(R, H, N_h, N_h)``.
The leading axis ``R`` is the replica axis (seeds x sweep points): one tensor program trains all.

Loss and time (Eq. 1, Eq. 2)
----------------------------
The loss of replica ``r`` is Eq. 1 averaged over its trained routes and the items::

    L_r = 1 / (2 n |T_r|) sum_{(i,j) in T_r} sum_mu || Y[j][:, mu] - yhat[i, j][:, mu] ||^2

Gradient descent ``W <- W - lr dL/dW`` is read as gradient flow ``tau dW/dt = -dL/dW`` with
``tau = 1`` and one step advancing time by ``dt = lr``; so ``t = step * lr`` (in units of tau). The
paper's ``lambda`` is this ``lr``.

Initialisation (Sec. 4, Sec. 4.3)
---------------------------------
``scheme="xavier"``: "Xavier initialisation scaled by sigma_0" (Sec. 4): each block is
``N(0, sigma_0^2 * 2 / (fan_in + fan_out))`` (Xavier-normal; the Xavier-uniform of the authors' code
has the same variance). ``scheme="orthogonal"``: "random matrices with singular value sigma_0"
(Sec. 4.3): each block is ``sigma_0`` times a random matrix with orthonormal rows or columns. For the
square hidden block the two readings have the same root-mean-square singular value ``sigma_0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from gdln.core.integrate import ode_samples
from gdln.engines.metrics import masked_mean
from gdln.tasks.routing import RoutingTask, task_modes
from gdln.util.random import haar_orthonormal

__all__ = ["RoutingWeights", "init_routing_weights", "decoupled_routing_weights", "route_outputs",
    "routing_loss", "routing_rhs", "RoutingRun", "train_routing", "integrate_routing_flow",
    "to_graph_weights", "from_graph_weights"]


@dataclass
class RoutingWeights:
    """Weights of ``R`` routing networks (see the module docstring for the shapes)."""

    W1: Tensor
    W2: Tensor
    W3: Tensor

    @property
    def R(self) -> int:
        return self.W2.shape[0]

    @property
    def H(self) -> int:
        return self.W2.shape[1]

    def clone(self) -> "RoutingWeights":
        return RoutingWeights(self.W1.clone(), self.W2.clone(), self.W3.clone())

    def to(self, device=None, dtype=None) -> "RoutingWeights":
        return RoutingWeights(*(w.to(device=device, dtype=dtype) for w in (self.W1, self.W2, self.W3)))

    def expanded(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(W1, W2, W3)`` with the pathway axis present on ``W1`` and ``W3`` (views, no copies)."""
        R, H = self.R, self.H
        W1 = self.W1 if self.W1.dim() == 5 else self.W1.unsqueeze(1).expand(R, H, *self.W1.shape[1:])
        W3 = self.W3 if self.W3.dim() == 5 else self.W3.unsqueeze(1).expand(R, H, *self.W3.shape[1:])
        return W1, self.W2, W3


def _per_replica(v, R: int, name: str, dtype, device) -> Tensor:
    t = torch.as_tensor(v, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.expand(R)
    if t.shape != (R,):
        raise ValueError(f"{name} must be a scalar or a length-{R} vector, got shape {tuple(t.shape)}")
    if not torch.all(torch.isfinite(t)) or torch.any(t < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {t.tolist()}")
    return t


def _random_blocks(shape: tuple[int, ...], rows: int, cols: int, scheme: str, generator, dtype) -> Tensor:
    dev = generator.device
    if scheme == "xavier":
        std = math.sqrt(2.0 / (rows + cols))
        return torch.randn(*shape, rows, cols, generator=generator, dtype=torch.float64, device=dev).mul_(std).to(dtype)
    if scheme == "orthogonal":
        return haar_orthonormal(rows, cols, generator=generator, batch=shape, dtype=dtype)
    raise ValueError(f"scheme={scheme!r} is invalid; expected 'xavier' or 'orthogonal'")


def init_routing_weights(R: int, M: int, n_x: int, n_h: int, n_y: int, *, sigma0, generator: torch.Generator,
                         H: int = 1, per_pathway_io: bool = False, scheme: str = "xavier",
                         dtype: torch.dtype = torch.float32) -> RoutingWeights:
    """Small random weights for ``R`` networks, all drawn at once from ``generator`` (on its device).

    ``sigma0``: scalar or ``(R,)`` (a sweep over initial scales). ``scheme``: ``"xavier"`` (entries
    ``N(0, sigma0^2 2/(fan_in+fan_out))``) or ``"orthogonal"`` (every singular value equal to
    ``sigma0``); see the module docstring. ``per_pathway_io=True`` gives every pathway its own input
    and output blocks (``W1``: ``(R, H, M, N_h, N_x)``), as in the P-sharing schemes of Fig. 5a.
    """
    for name, v in (("R", R), ("M", M), ("n_x", n_x), ("n_h", n_h), ("n_y", n_y), ("H", H)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; expected a positive integer")
    s = _per_replica(sigma0, R, "sigma0", dtype, generator.device)
    io = (R, H, M) if per_pathway_io else (R, M)
    W1 = _random_blocks(io, n_h, n_x, scheme, generator, dtype)
    W2 = _random_blocks((R, H), n_h, n_h, scheme, generator, dtype)
    W3 = _random_blocks(io, n_y, n_h, scheme, generator, dtype)
    def sc(w):
        return w * s.view(R, *([1] * (w.dim() - 1)))
    return RoutingWeights(sc(W1), sc(W2), sc(W3))


def decoupled_routing_weights(task: RoutingTask, b1, b2, b3=None, *, R: int, n_h: int,
                              generator: torch.Generator, H: int = 1,
                              dtype: torch.dtype = torch.float64) -> RoutingWeights:
    """Decoupled initial conditions (Eq. 9) for the routing network: ``W_e = R_t B_e R_s^T``.

    ``W1[i] = R1 diag(b1) V_i^T``, ``W2 = R2 diag(b2) R1^T``, ``W3[j] = U diag(b3) R2^T`` with the mode
    vectors ``U``, ``V_i`` of :func:`task_modes` and random ``N_h x r`` matrices ``R1``, ``R2`` with
    orthonormal columns (one pair per replica, drawn from ``generator``). ``b*`` are scalars, ``(r,)``
    (one value per mode) or ``(R, r)``; ``b3`` defaults to ``b1`` (balanced, Eqs. 13-15).
    All input domains share ``b1`` and all output domains ``b3`` (the assumption of App. C).
    """
    modes = task_modes(task)
    r = modes.s.numel()
    if n_h < r:
        raise ValueError(f"n_h={n_h} is invalid; expected n_h >= number of modes r={r}")
    dev = generator.device

    def vec(b, name):
        t = torch.as_tensor(b, dtype=torch.float64, device=dev)
        t = t.expand(R, r) if t.dim() <= 1 else t
        if t.shape != (R, r):
            raise ValueError(f"{name} must be a scalar, (r,)=({r},) or (R, r)=({R}, {r}); got {tuple(t.shape)}")
        return t

    B1, B2 = vec(b1, "b1"), vec(b2, "b2")
    B3 = B1 if b3 is None else vec(b3, "b3")
    R1 = _random_blocks((R,), n_h, r, "orthogonal", generator, torch.float64)
    R2 = _random_blocks((R,), n_h, r, "orthogonal", generator, torch.float64)
    U, V = modes.U.to(dev), modes.V.to(dev)
    W1 = torch.einsum("rak,rk,ibk->riab", R1, B1, V)
    W2 = torch.einsum("rak,rk,rbk->rab", R2, B2, R1).unsqueeze(1).repeat(1, H, 1, 1)
    W3 = torch.einsum("ak,rk,rbk->rab", U, B3, R2).unsqueeze(1).repeat(1, task.M, 1, 1)
    return RoutingWeights(W1.to(dtype), W2.to(dtype), W3.to(dtype))


# ----------------------------------------------------------------------------------------------
# Forward, loss, gradient
# ----------------------------------------------------------------------------------------------

def _gates(gates: Tensor | None, R: int, M: int, H: int, ref: Tensor) -> Tensor:
    if gates is None:
        if H != 1:
            raise ValueError(f"gates are required when there are H={H} > 1 hidden pathways")
        return torch.ones(1, 1, 1, 1, dtype=ref.dtype, device=ref.device).expand(R, M, M, 1)
    G = gates.to(dtype=ref.dtype, device=ref.device)
    if G.dim() == 3:
        G = G.unsqueeze(0).expand(R, *G.shape)
    if G.shape != (R, M, M, H):
        raise ValueError(f"gates must have shape (M, M, H)=({M}, {M}, {H}) or (R, M, M, H); got {tuple(gates.shape)}")
    return G


def _mask(trained: Tensor, R: int, M: int, ref: Tensor) -> Tensor:
    m = trained.to(device=ref.device)
    if m.dim() == 2:
        m = m.unsqueeze(0).expand(R, M, M)
    if m.shape != (R, M, M):
        raise ValueError(f"trained must have shape (M, M)=({M}, {M}) or (R, M, M)=({R}, {M}, {M}); got {tuple(trained.shape)}")
    return m.to(ref.dtype)


def _forward(W: RoutingWeights, X: Tensor, G: Tensor):
    W1, W2, W3 = W.expanded()
    h1 = torch.einsum("rhiab,ibn->rhian", W1, X)          # (R, H, M, N_h, n)
    h2 = torch.einsum("rhab,rhibn->rhian", W2, h1)        # (R, H, M, N_h, n)
    if W.H == 1:
        yh = torch.einsum("rjab,ribn->rijan", W3[:, 0], h2[:, 0]) * G[..., 0, None, None]
    else:
        yhh = torch.einsum("rhjab,rhibn->rhijan", W3, h2)                 # (R, H, M, M, N_y, n)
        yh = (yhh * G.permute(0, 3, 1, 2)[..., None, None]).sum(1)
    return h1, h2, yh                                     # yh: (R, M, M, N_y, n)


def route_outputs(W: RoutingWeights, task: RoutingTask, gates: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Outputs of every route and the first hidden layer: ``(yhat (R,M,M,N_y,n), h1 (R,H,M,N_h,n))``.

    ``yhat[r, i, j]`` is the output of network ``r`` on output domain ``j`` when input domain ``i``
    presents the items (Fig. 4h); ``h1[r, h, i]`` the first-hidden-layer representations (Fig. 4g).
    """
    G = _gates(gates, W.R, task.M, W.H, W.W2)
    h1, _, yh = _forward(W, task.X.to(W.W2), G)
    return yh, h1


def _route_sq_err(yh: Tensor, Y: Tensor) -> Tensor:
    """``(1/2n) sum_mu ||Y_j - yhat_ij||^2`` per route: (R, M, M)."""
    n = Y.shape[-1]
    return 0.5 * ((Y.unsqueeze(0).unsqueeze(0) - yh) ** 2).sum((-1, -2)) / n


def routing_loss(W: RoutingWeights, task: RoutingTask, gates: Tensor | None = None,
                 trained: Tensor | None = None) -> Tensor:
    """Eq. 1 for each replica, shape ``(R,)``: mean over trained routes and items (module docstring)."""
    yh, _ = route_outputs(W, task, gates)
    m = _mask(task.trained if trained is None else trained, W.R, task.M, W.W2)
    return (_route_sq_err(yh, task.Y.to(W.W2)) * m).sum((1, 2)) / m.sum((1, 2))


def _rhs_shared(W: RoutingWeights, X: Tensor, Y: Tensor, m: Tensor, G: Tensor | None, need_loss: bool = True):
    """Fast path for one hidden pathway (H = 1, the network of Fig. 4): every product is one batched
    GEMM over the replica axis, in the layout (R, j, N_y, i, n) for outputs and (R, N_h, i, n) for
    hidden activity, so no large intermediate is permuted or copied."""
    R, M, Nh = W.W1.shape[0], X.shape[0], W.W2.shape[-1]
    n, Ny = X.shape[-1], Y.shape[1]
    W1 = W.W1 if W.W1.dim() == 4 else W.W1[:, 0]
    W3 = W.W3 if W.W3.dim() == 4 else W.W3[:, 0]
    W2 = W.W2[:, 0]
    H1 = torch.matmul(W1, X).permute(0, 2, 1, 3).reshape(R, Nh, M * n)     # (R, N_h, i n)
    H2 = torch.bmm(W2, H1)                                                  # (R, N_h, i n)
    A = W3.reshape(R, M * Ny, Nh)
    C = torch.bmm(A, H2).view(R, M, Ny, M, n)                               # (R, j, N_y, i, n)
    gt = None if G is None else G[..., 0].transpose(1, 2).reshape(R, M, 1, M, 1)
    if gt is not None:
        C = C * gt
    E = Y.view(1, M, Ny, 1, n) - C
    count = m.sum((1, 2))
    w = (m.transpose(1, 2) / (n * count).view(R, 1, 1)).reshape(R, M, 1, M, 1)
    Delta = E * w
    loss = 0.5 * (E * Delta).sum((1, 2, 3, 4)) if need_loss else None
    if gt is not None:
        Delta = Delta * gt
    D = Delta.view(R, M * Ny, M * n)
    g3 = torch.bmm(D, H2.transpose(1, 2)).view(R, M, Ny, Nh)
    D2 = torch.bmm(A.transpose(1, 2), D)                                    # (R, N_h, i n)
    g2 = torch.bmm(D2, H1.transpose(1, 2)).unsqueeze(1)
    D1 = torch.bmm(W2.transpose(1, 2), D2).view(R, Nh, M, n).permute(0, 2, 1, 3)
    g1 = torch.matmul(D1, X.transpose(1, 2))                                # (R, M, N_h, N_x)
    if W.W1.dim() == 5:
        g1 = g1.unsqueeze(1)
    if W.W3.dim() == 5:
        g3 = g3.unsqueeze(1)
    return loss, RoutingWeights(g1, g2, g3)


def routing_rhs(W: RoutingWeights, task: RoutingTask, gates: Tensor | None = None,
                trained: Tensor | None = None) -> tuple[Tensor, RoutingWeights]:
    """The loss ``(R,)`` and ``-dL/dW`` (the right-hand side of ``tau dW/dt``, Eq. 2) by hand-written backprop.

    Same shapes as ``W`` (a shared ``W1``/``W3`` gets the sum over pathways). Checked against
    ``torch.autograd`` and against the core generic machinery in ``tests/test_routing.py``.
    """
    R, M, H = W.R, task.M, W.H
    m = _mask(task.trained if trained is None else trained, R, M, W.W2)
    X, Y = task.X.to(W.W2), task.Y.to(W.W2)
    if H == 1:
        G = None if gates is None else _gates(gates, R, M, H, W.W2)
        return _rhs_shared(W, X, Y, m, G)
    G = _gates(gates, R, M, H, W.W2)
    n = task.n
    W1, W2, W3 = W.expanded()
    h1, h2, yh = _forward(W, X, G)
    E = Y.unsqueeze(0).unsqueeze(0) - yh                               # (R, M, M, N_y, n)
    count = m.sum((1, 2))
    loss = 0.5 * ((E ** 2).sum((-1, -2)) * m).sum((1, 2)) / (n * count)
    Delta = E * (m / (n * count).view(R, 1, 1)).unsqueeze(-1).unsqueeze(-1)
    DG = Delta.unsqueeze(1) * G.permute(0, 3, 1, 2)[..., None, None]   # (R, H, M, M, N_y, n)
    g3 = torch.einsum("rhijan,rhibn->rhjab", DG, h2)
    d2 = torch.einsum("rhjab,rhijan->rhibn", W3, DG)
    g2 = torch.einsum("rhian,rhibn->rhab", d2, h1)
    d1 = torch.einsum("rhba,rhibn->rhian", W2, d2)
    g1 = torch.einsum("rhian,ibn->rhiab", d1, X)
    if W.W1.dim() == 4:
        g1 = g1.sum(1)
    if W.W3.dim() == 4:
        g3 = g3.sum(1)
    return loss, RoutingWeights(g1, g2, g3)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

@dataclass
class RoutingRun:
    """What :func:`train_routing` records (``T`` record points, ``R`` replicas).

    ``step``: (T,) step numbers; ``t``: (T, R) training time ``step * lr`` in units of tau.
    ``loss_trained``, ``loss_untrained``: (T, R) Eq. 1 over trained / untrained routes (NaN if none).
    ``zero_loss_trained``, ``zero_loss_untrained``: (R,) the same losses for the zero output (for
    normalised errors). ``route_loss``: (T, R, M, M) per-route loss. ``sv1``: (T_sv, R, H?, M, k1)
    singular values of each first-layer block at the steps ``extra["sv_step"]``, ``sv2``: (T, R, H, N_h) of each hidden pathway,
    ``sv3``: (T, R, H?, M, k3) of each output block (None if not recorded). ``W``: final weights;
    ``outputs``: final (R, M, M, N_y, n); ``h1``: final (R, H, M, N_h, n).
    """

    step: Tensor
    t: Tensor
    loss_trained: Tensor
    loss_untrained: Tensor
    zero_loss_trained: Tensor
    zero_loss_untrained: Tensor
    route_loss: Tensor
    sv1: Tensor | None
    sv2: Tensor | None
    sv3: Tensor | None
    W: RoutingWeights
    outputs: Tensor
    h1: Tensor
    extra: dict = field(default_factory=dict)

    @property
    def norm_loss_trained(self) -> Tensor:
        return self.loss_trained / self.zero_loss_trained

    @property
    def norm_loss_untrained(self) -> Tensor:
        return self.loss_untrained / self.zero_loss_untrained


def train_routing(W0: RoutingWeights, task: RoutingTask, *, lr, steps: int, record_every: int = 10,
                  gates: Tensor | None = None, trained: Tensor | None = None,
                  record_sv: bool = True, sv_every: int | None = None,
                  callback: Callable[[int, RoutingWeights], None] | None = None) -> RoutingRun:
    """Full-batch gradient descent on Eq. 1 for all ``R`` replicas at once (one tensor program).

    ``lr``: scalar or ``(R,)`` (e.g. ``lambda = .05/K`` per replica in Fig. 5c); one step advances
    each replica's time by its ``lr`` (``tau = 1``). ``trained``: ``(M, M)`` or ``(R, M, M)``
    (default ``task.trained``). Records losses every ``record_every`` steps and at the last step;
    singular values (if ``record_sv``) every ``sv_every`` steps (default ``record_every``; must be a
    multiple of it); ``sv1``-``sv3`` then have one entry per step in ``run.extra["sv_step"]``.
    Runs on the device and dtype of ``W0`` (the task is moved there). ``callback(step, W)`` is called
    at every record step with the current weights (do not modify them in place; clone to keep).
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r} is invalid; expected a non-negative integer")
    if not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"record_every={record_every!r} is invalid; expected a positive integer")
    ref = W0.W2
    R, M = W0.R, task.M
    task = task.to(device=ref.device, dtype=ref.dtype)
    lr_t = _per_replica(lr, R, "lr", ref.dtype, ref.device)
    m = _mask(task.trained if trained is None else trained, R, M, ref)
    G = _gates(gates, R, M, W0.H, ref)
    Y = task.Y
    n = task.n
    zero_route = 0.5 * (Y ** 2).sum((-1, -2)) / n               # (M,) per output domain
    zero_route = zero_route.unsqueeze(0).unsqueeze(0).expand(R, M, M)
    zl_tr, zl_un = masked_mean(zero_route, m), masked_mean(zero_route, 1 - m)

    sv_every = record_every if sv_every is None else sv_every
    if not isinstance(sv_every, int) or sv_every < 1 or sv_every % record_every:
        raise ValueError(f"sv_every={sv_every!r} is invalid; expected a positive multiple of record_every={record_every}")
    W = W0.clone()
    rec_steps = sorted(set(list(range(0, steps + 1, record_every)) + [steps]))
    sv_steps = [s_ for s_ in rec_steps if s_ % sv_every == 0 or s_ == steps]
    rec = {k: [] for k in ("route", "sv1", "sv2", "sv3")}

    def record(step):
        h1, _, yh = _forward(W, task.X, G)
        rec["route"].append(_route_sq_err(yh, Y))
        if record_sv and step in sv_steps:
            rec["sv1"].append(torch.linalg.svdvals(W.W1))
            rec["sv2"].append(torch.linalg.svdvals(W.W2))
            rec["sv3"].append(torch.linalg.svdvals(W.W3))

    lrv1 = lr_t.view(R, *([1] * (W.W1.dim() - 1)))
    lrv2 = lr_t.view(R, 1, 1, 1)
    lrv3 = lr_t.view(R, *([1] * (W.W3.dim() - 1)))
    k = 0
    for step in range(steps + 1):
        if k < len(rec_steps) and step == rec_steps[k]:
            record(step)
            if callback is not None:
                callback(step, W)
            k += 1
        if step == steps:
            break
        if W.H == 1:
            _, g = _rhs_shared(W, task.X, Y, m, None if gates is None else G, need_loss=False)
        else:
            _, g = routing_rhs(W, task, G, m)
        W.W1.add_(lrv1 * g.W1)
        W.W2.add_(lrv2 * g.W2)
        W.W3.add_(lrv3 * g.W3)

    route = torch.stack(rec["route"])                            # (T, R, M, M)
    steps_t = torch.tensor(rec_steps, dtype=ref.dtype, device=ref.device)
    yh, h1 = route_outputs(W, task, G)
    stack = (lambda key: torch.stack(rec[key]) if record_sv else None)
    return RoutingRun(step=steps_t, t=steps_t.unsqueeze(1) * lr_t.unsqueeze(0),
                      loss_trained=masked_mean(route, m), loss_untrained=masked_mean(route, 1 - m),
                      zero_loss_trained=zl_tr, zero_loss_untrained=zl_un, route_loss=route,
                      sv1=stack("sv1"), sv2=stack("sv2"), sv3=stack("sv3"), W=W, outputs=yh, h1=h1,
                      extra={"sv_step": torch.tensor(sv_steps if record_sv else [], dtype=ref.dtype, device=ref.device)})


def integrate_routing_flow(W0: RoutingWeights, task: RoutingTask, t_eval, *, gates: Tensor | None = None,
                           rtol: float = 1e-11, atol: float = 1e-12, solver: str = "DOP853",
                           return_weights: bool = False):
    """Gradient flow ``dW/dt = -dL/dW`` (tau = 1) of the full networks, integrated by scipy in float64.

    Returns ``(t, loss)`` with ``loss`` of shape ``(len(t), R)`` (and the list of weights at each time if
    ``return_weights``). For exactness checks (Fig. 4e, green vs blue) where gradient descent's O(lr)
    discretisation error would be in the way.
    """

    W0 = W0.to(device="cpu", dtype=torch.float64)
    task = task.to(device="cpu", dtype=torch.float64)
    shapes = [W0.W1.shape, W0.W2.shape, W0.W3.shape]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(y):
        parts = torch.split(torch.from_numpy(y), sizes)
        return RoutingWeights(*(p.view(s) for p, s in zip(parts, shapes)))

    def f(_t, y):
        _, g = routing_rhs(unpack(y), task, gates)
        return torch.cat([g.W1.reshape(-1), g.W2.reshape(-1), g.W3.reshape(-1)]).numpy()

    y0 = torch.cat([W0.W1.reshape(-1), W0.W2.reshape(-1), W0.W3.reshape(-1)]).numpy()
    t_eval = np.asarray(t_eval, dtype=float)
    Y = ode_samples(f, y0, t_eval, solver=solver, rtol=rtol, atol=atol, t0=float(t_eval[0]),
                    what="the routing network's gradient flow")
    Ws = [unpack(Y[k].copy()) for k in range(Y.shape[0])]
    loss = np.stack([routing_loss(w, task, gates).numpy() for w in Ws])
    return (t_eval, loss, Ws) if return_weights else (t_eval, loss)


def to_graph_weights(W: RoutingWeights) -> dict[str, Tensor]:
    """Engine weights (``H = 1``) -> core ``Weights`` keyed by the edges of :func:`routing_graph`;
    the replica axis ``R`` stays as the leading axis."""
    if W.H != 1:
        raise ValueError(f"to_graph_weights needs H=1 (the shared network of Fig. 4), got H={W.H}")
    W1, W2, W3 = W.expanded()
    out = {f"W1_{i}": W1[:, 0, i] for i in range(W1.shape[2])}
    out["W2"] = W2[:, 0]
    out.update({f"W3_{j}": W3[:, 0, j] for j in range(W3.shape[2])})
    return out


def from_graph_weights(Wg: dict[str, Tensor], M: int) -> RoutingWeights:
    """Core ``Weights`` on :func:`routing_graph` (leading replica axis) -> engine weights."""
    W1 = torch.stack([Wg[f"W1_{i}"] for i in range(M)], dim=-3)
    W3 = torch.stack([Wg[f"W3_{j}"] for j in range(M)], dim=-3)
    return RoutingWeights(W1, Wg["W2"].unsqueeze(-3), W3)
