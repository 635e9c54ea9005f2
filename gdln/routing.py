"""The routing task of Sec. 4 (Fig. 4) and a batched engine that trains many routing networks at once.

The task (Sec. 4, Fig. 4a-d)
----------------------------
``M`` input domains, ``M`` output domains, and one small data set: four items with a 7-dimensional
hierarchical target (a root feature shared by all items, two branch features, four leaf features;
Fig. 4c). Input domain ``i`` presents item ``mu`` as ``X[i][:, mu]``; output domain ``j`` wants
``Y[j][:, mu]``. A *route* ``(i, j)`` maps input domain ``i`` to output domain ``j``. Only ``K`` routes
per input domain are trained (Fig. 4d); every output domain also has exactly ``K`` trained partners.

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
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .backend import resolve_device

__all__ = [
    "hierarchical_dataset", "trained_routes", "trained_route_masks", "RoutingTask", "routing_task",
    "TaskModes", "task_modes", "pathway_gates", "RoutingWeights", "init_routing_weights",
    "decoupled_routing_weights", "route_outputs", "routing_loss", "routing_rhs", "RoutingRun",
    "train_routing", "integrate_routing_flow", "routing_graph", "routing_gated_data",
    "to_graph_weights", "from_graph_weights", "shared_branch_task",
]

# ----------------------------------------------------------------------------------------------
# Data (Fig. 4c) and trained routes (Fig. 4d)
# ----------------------------------------------------------------------------------------------

#: Feature magnitudes (root, branch, leaf) of the authors' notebook (root 6, branch 4, leaf 3).
DEFAULT_MAGNITUDES: tuple[float, float, float] = (6.0, 4.0, 3.0)


def _orthonormal(rows: int, cols: int, generator: torch.Generator, dtype=torch.float64) -> Tensor:
    """A random ``rows x cols`` matrix with orthonormal columns (rows >= cols) or rows (rows < cols)."""
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64,
                    device=generator.device)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)  # Haar measure
    q = q if rows >= cols else q.T
    return q.to(dtype)


def hierarchical_dataset(seed: int = 0, *, n_x: int = 4,
                         magnitudes: Sequence[float] = DEFAULT_MAGNITUDES,
                         dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """The small hierarchical data set of Fig. 4c: ``(X, Y)`` with items as columns.

    ``Y`` is ``7 x 4``: row 0 the root feature (all four items), rows 1-2 the branch features
    (items {0,1} and {2,3}), rows 3-6 the leaf features (one item each), scaled by ``magnitudes``.
    ``X`` is ``n_x x 4`` with random orthonormal columns ("inputs are random orthogonal vectors for
    each item"), drawn with ``seed``. ``n_x >= 4`` is required for the columns to be orthonormal.
    """
    if not isinstance(n_x, int) or n_x < 4:
        raise ValueError(f"n_x={n_x!r} is invalid; expected an integer >= 4 (four orthonormal items)")
    if len(magnitudes) != 3 or any(float(m) <= 0 for m in magnitudes):
        raise ValueError(f"magnitudes={tuple(magnitudes)!r} is invalid; expected three positive numbers")
    r, b, l = (float(m) for m in magnitudes)
    Y = torch.zeros(7, 4, dtype=torch.float64)
    Y[0] = r
    Y[1, :2] = b
    Y[2, 2:] = b
    Y[3:] = l * torch.eye(4, dtype=torch.float64)
    g = torch.Generator().manual_seed(int(seed))
    X = _orthonormal(n_x, 4, g)
    return X.to(dtype), Y.to(dtype)


def trained_routes(M: int, K: int, seed: int = 0) -> Tensor:
    """The ``M x M`` boolean pattern of trained routes (Fig. 4d), ``[i, j]`` = route i -> j trained.

    As in the authors' code: input ``i`` is trained with outputs ``(i + k) mod M`` for ``k < K``, then
    the output columns are shuffled with a permutation drawn from ``seed``. Every input and every
    output domain has exactly ``K`` trained partners; for ``K < M`` some routes are never trained.
    """
    if not isinstance(M, int) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a positive integer (number of domains)")
    if not isinstance(K, int) or not 1 <= K <= M:
        raise ValueError(f"K={K!r} is invalid; expected an integer with 1 <= K <= M={M}")
    i = torch.arange(M).unsqueeze(1)
    j = torch.arange(M).unsqueeze(0)
    base = ((j - i) % M) < K
    perm = torch.randperm(M, generator=torch.Generator().manual_seed(int(seed)))
    return base[:, perm]


def trained_route_masks(M: int, Ks: Sequence[int], seeds: Sequence[int]) -> Tensor:
    """Stack of trained-route patterns, shape ``(len(Ks), M, M)``, one per (K, seed) pair."""
    if len(Ks) != len(seeds):
        raise ValueError(f"Ks and seeds must have the same length, got {len(Ks)} and {len(seeds)}")
    return torch.stack([trained_routes(M, int(k), int(s)) for k, s in zip(Ks, seeds)])


@dataclass(frozen=True)
class RoutingTask:
    """One routing task: per-domain inputs, per-domain targets, the trained-route pattern.

    ``X``: ``(M, N_x, n)`` input domain ``i`` shows item ``mu`` as ``X[i, :, mu]``.
    ``Y``: ``(M, N_y, n)`` output domain ``j`` wants ``Y[j, :, mu]``.
    ``trained``: ``(M, M)`` or ``(R, M, M)`` boolean, ``[.., i, j]`` = route ``(i, j)`` trained.
    """

    X: Tensor
    Y: Tensor
    trained: Tensor

    @property
    def M(self) -> int:
        return self.X.shape[0]

    @property
    def n_x(self) -> int:
        return self.X.shape[1]

    @property
    def n_y(self) -> int:
        return self.Y.shape[1]

    @property
    def n(self) -> int:
        return self.X.shape[2]

    def to(self, device=None, dtype=None) -> "RoutingTask":
        return RoutingTask(self.X.to(device=device, dtype=dtype), self.Y.to(device=device, dtype=dtype),
                           self.trained.to(device=device))

    def with_trained(self, trained: Tensor) -> "RoutingTask":
        return RoutingTask(self.X, self.Y, trained.to(device=self.X.device, dtype=torch.bool))


def routing_task(M: int, K: int, *, seed: int = 0, n_x: int = 4,
                 magnitudes: Sequence[float] = DEFAULT_MAGNITUDES, domain_inputs: str = "shared",
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> RoutingTask:
    """The routing task of Fig. 4 with ``M`` domains and ``K`` trained outputs per input domain.

    ``domain_inputs="shared"``: every input domain presents the same orthonormal item vectors (the
    paper's "the target input-output mapping ... is the same for all pathways"; the authors' notebook
    uses the identity for every domain). ``"independent"``: each input domain draws its own random
    orthonormal item vectors (seeded), so that domains share no input coordinates at all.
    Targets are the same for all output domains. ``seed`` draws the inputs and the route pattern.
    """
    if domain_inputs not in ("shared", "independent"):
        raise ValueError(f"domain_inputs={domain_inputs!r} is invalid; expected 'shared' or 'independent'")
    X0, Y0 = hierarchical_dataset(seed, n_x=n_x, magnitudes=magnitudes)
    if domain_inputs == "shared":
        X = X0.unsqueeze(0).repeat(M, 1, 1)
    else:
        g = torch.Generator().manual_seed(int(seed) + 7919)
        X = torch.stack([_orthonormal(n_x, 4, g) for _ in range(M)])
    Y = Y0.unsqueeze(0).repeat(M, 1, 1)
    dev = resolve_device(device)
    return RoutingTask(X.to(dtype=dtype, device=dev), Y.to(dtype=dtype, device=dev),
                       trained_routes(M, K, seed).to(dev))


@dataclass(frozen=True)
class TaskModes:
    """Singular value decomposition of one route's statistics (Eqs. 7-8, Eq. 11 without 1/KM).

    ``Sigma^yx = <y x^T>_items = U diag(s) V_i^T`` and ``V_i^T <x x^T> V_i = diag(d)``; ``U``: (N_y, r),
    ``V``: (M, N_x, r) (one per input domain), ``s``, ``d``: (r,), ``y_power = <||y||^2>_items``.
    """

    U: Tensor
    s: Tensor
    V: Tensor
    d: Tensor
    y_power: float


def task_modes(task: RoutingTask, *, atol: float = 1e-9) -> TaskModes:
    """Mode decomposition of the routing data (Eqs. 7-8); requires shared targets and orthonormal items.

    Raises ``ValueError`` if the output domains have different targets or if the inputs of a domain
    are not orthonormal items (then the statistics are not mutually diagonalisable as assumed).
    """
    X, Y = task.X.double().cpu(), task.Y.double().cpu()
    if not torch.allclose(Y, Y[:1].expand_as(Y), atol=atol):
        raise ValueError("task_modes needs the same targets Y in every output domain")
    n = task.n
    gram = X.transpose(1, 2) @ X
    if not torch.allclose(gram, torch.eye(n, dtype=gram.dtype).expand_as(gram), atol=1e-7):
        raise ValueError("task_modes needs orthonormal item vectors in every input domain")
    U, sy, Qt = torch.linalg.svd(Y[0], full_matrices=False)  # Y = U diag(sy) Q^T in item space
    keep = sy > atol * max(1.0, float(sy.max()))
    U, sy, Q = U[:, keep], sy[keep], Qt[keep].T
    V = X @ Q  # (M, N_x, r): V_i = X_i Q
    s = sy / n
    d = torch.full_like(s, 1.0 / n)
    y_power = float((Y[0] ** 2).sum() / n)
    return TaskModes(U=U, s=s, V=V, d=d, y_power=y_power)


# ----------------------------------------------------------------------------------------------
# Weights and gates
# ----------------------------------------------------------------------------------------------

def pathway_gates(pathway: Tensor | Sequence[Sequence[int]], H: int | None = None, *,
                  dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """One-hot gates ``G[..., i, j, h] = 1[pathway[..., i, j] == h]`` from an integer assignment.

    ``pathway``: ``(M, M)`` or ``(R, M, M)`` integers in ``[0, H)``; ``H`` defaults to ``max + 1``.
    """
    p = torch.as_tensor(pathway, device=device)
    if p.dtype.is_floating_point or p.dim() not in (2, 3) or p.shape[-1] != p.shape[-2]:
        raise ValueError(f"pathway must be an integer (M, M) or (R, M, M) tensor, got {tuple(p.shape)} {p.dtype}")
    H = int(p.max()) + 1 if H is None else int(H)
    if int(p.min()) < 0 or int(p.max()) >= H:
        raise ValueError(f"pathway entries must lie in [0, H={H}), got range [{int(p.min())}, {int(p.max())}]")
    return torch.nn.functional.one_hot(p.long(), H).to(dtype)


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
        a = torch.randn(*shape, max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64, device=dev)
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
        q = q if rows >= cols else q.transpose(-1, -2)
        return q.to(dtype)
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
    R, M, Nh, Nx = W.W1.shape[0], X.shape[0], W.W2.shape[-1], X.shape[1]
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


def _masked_mean(x: Tensor, m: Tensor) -> Tensor:
    c = m.sum((-1, -2))
    return torch.where(c > 0, (x * m).sum((-1, -2)) / c.clamp_min(1), torch.full_like(c, float("nan")))


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
    zl_tr, zl_un = _masked_mean(zero_route, m), _masked_mean(zero_route, 1 - m)

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
                      loss_trained=_masked_mean(route, m), loss_untrained=_masked_mean(route, 1 - m),
                      zero_loss_trained=zl_tr, zero_loss_untrained=zl_un, route_loss=route,
                      sv1=stack("sv1"), sv2=stack("sv2"), sv3=stack("sv3"), W=W, outputs=yh, h1=h1,
                      extra={"sv_step": torch.tensor(sv_steps if record_sv else [], dtype=ref.dtype, device=ref.device)})


def integrate_routing_flow(W0: RoutingWeights, task: RoutingTask, t_eval, *, gates: Tensor | None = None,
                           rtol: float = 1e-11, atol: float = 1e-12, method: str = "DOP853",
                           return_weights: bool = False):
    """Gradient flow ``dW/dt = -dL/dW`` (tau = 1) of the full networks, integrated by scipy in float64.

    Returns ``(t, loss)`` with ``loss`` of shape ``(len(t), R)`` (and the list of weights at each time if
    ``return_weights``). For exactness checks (Fig. 4e, green vs blue) where gradient descent's O(lr)
    discretisation error would be in the way.
    """
    from scipy.integrate import solve_ivp

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
    sol = solve_ivp(f, (float(t_eval[0]), float(t_eval[-1])), y0, t_eval=t_eval, rtol=rtol, atol=atol, method=method)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    Ws = [unpack(sol.y[:, k].copy()) for k in range(sol.y.shape[1])]
    loss = np.stack([routing_loss(w, task, gates).numpy() for w in Ws])
    return (sol.t, loss, Ws) if return_weights else (sol.t, loss)


# ----------------------------------------------------------------------------------------------
# The same task in the core GDLN formalism (Graph + GatedData), so Eqs. 5-10 apply
# ----------------------------------------------------------------------------------------------

def routing_graph(M: int, n_x: int, n_h: int, n_y: int):
    """The architecture graph of Fig. 4a-b: nodes ``x{i}``, ``h1``, ``h2``, ``y{j}``; edges
    ``W1_{i}: x{i} -> h1``, ``W2: h1 -> h2``, ``W3_{j}: h2 -> y{j}``. M^2 input-output paths."""
    from .graph import Graph

    nodes = {f"x{i}": n_x for i in range(M)}
    nodes.update({"h1": n_h, "h2": n_h})
    nodes.update({f"y{j}": n_y for j in range(M)})
    edges = {f"W1_{i}": (f"x{i}", "h1") for i in range(M)}
    edges["W2"] = ("h1", "h2")
    edges.update({f"W3_{j}": ("h2", f"y{j}") for j in range(M)})
    return Graph(nodes, edges)


def routing_gated_data(task: RoutingTask):
    """The routing data set as a core ``GatedData`` (Sec. 2: gates are part of the data).

    One example per (trained route, item): every input node shows the item (its own domain's
    vector), the edge gate of ``W1_{i}`` is on only for the active input domain and that of
    ``W3_{j}`` only for the active output domain (Fig. 4a-b); inactive output nodes are also gated
    off at the node and have target 0, so Eq. 1 averages exactly as :func:`routing_loss`.
    """
    from .network import GatedData

    if task.trained.dim() != 2:
        raise ValueError("routing_gated_data needs a single (M, M) trained pattern")
    M, n = task.M, task.n
    routes = [(i, j) for i in range(M) for j in range(M) if bool(task.trained[i, j])]
    dt, dev = task.X.dtype, task.X.device
    ii = torch.tensor([i for i, _ in routes for _ in range(n)], device=dev)
    jj = torch.tensor([j for _, j in routes for _ in range(n)], device=dev)
    mu = torch.tensor([k for _ in routes for k in range(n)], device=dev)
    x = {f"x{i}": task.X[i][:, mu].T.contiguous() for i in range(M)}
    y, node_gates, edge_gates = {}, {}, {}
    for j in range(M):
        on = (jj == j).to(dt)
        y[f"y{j}"] = task.Y[j][:, mu].T * on.unsqueeze(1)
        node_gates[f"y{j}"] = on
        edge_gates[f"W3_{j}"] = on
    for i in range(M):
        edge_gates[f"W1_{i}"] = (ii == i).to(dt)
    return GatedData(x=x, y=y, node_gates=node_gates, edge_gates=edge_gates)


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


def shared_branch_task(P: int, *, shared: bool = True, seed: int = 0, strengths=(3.0, 2.0, 1.0)):
    """A pathway-counting example (Sec. 3.1): ``P`` input branches ``x_k`` to one output ``y``.

    ``shared=True``: edges ``in{k}: x{k} -> h`` and one shared ``out: h -> y`` (on all ``P`` paths).
    ``shared=False``: every branch has its own hidden node ``h{k}`` and edge ``out{k}: h{k} -> y``.
    Three orthonormal items (seeded) with targets ``diag(strengths)``; an example on branch ``k`` gates
    on ``in{k}`` only. Returns ``(Graph, GatedData)`` in float64.
    """
    from .graph import Graph
    from .network import GatedData

    if not isinstance(P, int) or P < 1:
        raise ValueError(f"P={P!r} is invalid; expected a positive integer (number of branches)")
    F64 = torch.float64
    X = _orthonormal(3, 3, torch.Generator().manual_seed(int(seed)))
    Y = torch.diag(torch.tensor([float(v) for v in strengths], dtype=F64))
    nodes = {f"x{k}": 3 for k in range(P)}
    nodes.update({"h": 5} if shared else {f"h{k}": 5 for k in range(P)})
    nodes["y"] = 3
    edges = {f"in{k}": (f"x{k}", "h" if shared else f"h{k}") for k in range(P)}
    edges.update({"out": ("h", "y")} if shared else {f"out{k}": (f"h{k}", "y") for k in range(P)})
    k_of = torch.arange(P).repeat_interleave(3)
    mu = torch.arange(3).repeat(P)
    x = {f"x{k}": X[:, mu].T.contiguous() for k in range(P)}
    gates = {f"in{k}": (k_of == k).to(F64) for k in range(P)}
    return Graph(nodes, edges), GatedData(x=x, y={"y": Y[:, mu].T.contiguous()}, node_gates={}, edge_gates=gates)
