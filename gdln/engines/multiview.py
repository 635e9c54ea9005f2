"""The multi-view task learned by two networks, and the view strengths ``s_{y,m}(t)`` of both (the practice chapter).

- the GDLN of :func:`gdln.tasks.multiview.view_graph`, one pathway per view with its gating fixed by the
  views, trained by :func:`gdln.core.dynamics.train` on the closed-form statistics
  (:func:`gdln.tasks.multiview.view_statistics`) from small random weights or from decoupled weights
  (Eq. 9) with given strengths (:func:`train_gdln_views`);
- a plain ReLU network ``W2 relu(W1 x)`` whose gating is learned, trained by
  :func:`gdln.engines.relu.train_relu_sgd` under any of the :data:`REGIMES` (:func:`train_relu_views`).

The strength of view ``(y, m)`` is the Frobenius norm of its effective map: the norm of the network's
output when that view alone is shown (for the ReLU network, whose map is positively homogeneous, the
norm of ``W2 D(phi) W1 phi``; for the GDLN, pathway ``m`` on the input ``e_y``). Both drivers return a
:class:`ViewRun` with the strengths of every replica, class and view over training; :func:`run_regimes` runs the
ReLU network under every regime, and :func:`redundant_race` and :func:`frequency_race` reduce runs to per-seed
measurements.

May import: every layer below (util, core, data, theory, tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gdln.core.dynamics import train
from gdln.core.network import Weights, path_weight
from gdln.core.reduction import decoupled_init, diagonalize, edge_modes, node_bases
from gdln.engines.relu import init_relu, relu_forward, train_relu_sgd
from gdln.tasks.multiview import (MultiViewTask, coverage, initial_advantage, learning_times, post_race_growth, view_graph,
                                  view_path, view_statistics, winners)
from gdln.theory.modes import silent_alignment_a0
from gdln.util.device import generator as make_gen

__all__ = ["ViewRun", "REGIMES", "relu_view_strengths", "gdln_view_strengths", "train_relu_views",
           "teacher_targets", "decoupled_view_weights", "train_gdln_views", "run_regimes", "redundant_race",
           "frequency_race"]

#: The training protocols the ReLU network is run under: keyword arguments of :func:`train_relu_views`.
#: The learning rate is multiplied by ``1 - momentum``, so that every protocol takes the same step once
#: momentum has built up; "distillation" also needs soft ``targets`` (:func:`teacher_targets`).
REGIMES: dict[str, dict] = {
    "MSE, gradient flow": dict(loss="mse", batch_size=None, momentum=0.0),
    "MSE, SGD": dict(loss="mse", batch_size=4, momentum=0.0),
    "CE, SGD": dict(loss="ce", batch_size=4, momentum=0.0),
    "CE, SGD + momentum": dict(loss="ce", batch_size=4, momentum=0.9),
    "distillation": dict(loss="ce", batch_size=4, momentum=0.9),
}


@dataclass
class ViewRun:
    """Training record of ``R`` networks on a multi-view task.

    ``t (T,)`` training time (units of tau); ``s (T, R, K, M)`` view strengths; ``own (T, R, K, M)`` the
    output on the view's own class; ``loss (T, R)``; ``correct (R, K, M)``: at the end, the view alone is
    classified as its class (argmax); ``align0 (R, K, M)``: for a two-layer GDLN, the a-priori initial strength
    of silent alignment ``|(W1 e_y + W2^T e_y)/2|^2`` of each pathway and class (else ``None``);
    ``weights``: the final weights (ReLU: ``(W1, W2)``; GDLN: edge -> tensor).
    """

    t: np.ndarray
    s: np.ndarray
    own: np.ndarray
    loss: np.ndarray
    correct: np.ndarray
    align0: np.ndarray | None = None
    weights: object = None


def _split(out: Tensor, K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs ``(..., M, K, K_out)`` of every view alone -> strengths, own-class outputs, correctness ``(..., K, M)``."""
    out = out.detach().double().cpu().transpose(-3, -2)                      # (..., K, M, K_out)
    s = out.norm(dim=-1)
    eye = torch.eye(K, dtype=torch.float64)[:, None, :]                      # (K, 1, K_out)
    own = (out * eye).sum(-1)
    correct = out.argmax(-1) == torch.arange(K)[:, None]
    return s.numpy(), own.numpy(), correct.numpy()


def relu_view_strengths(outputs: Tensor, K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs on :meth:`~gdln.tasks.multiview.MultiViewTask.probes` ``(..., M K, K)`` -> ``(s, own, correct)``,
    each ``(..., K, M)``."""
    if outputs.shape[-2:] != (M * K, K):
        raise ValueError(f"outputs have shape {tuple(outputs.shape)}; expected (..., {M * K}, {K}): every view alone")
    return _split(outputs.reshape(*outputs.shape[:-2], M, K, K), K, M)


def gdln_view_strengths(graph, W: Weights, K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(s, own, correct)`` ``(..., K, M)`` of GDLN weights on a :func:`~gdln.tasks.multiview.view_graph`: view
    ``(y, m)`` alone switches on pathway ``m`` with input ``e_y``, so its output is column ``y`` of ``W_p``."""
    maps = torch.stack([path_weight(graph, W, view_path(graph, m)) for m in range(M)], -3)   # (..., M, K_out, K)
    return _split(maps.transpose(-1, -2), K, M)


def _check_common(R, n_h, sigma0, lr, steps, record_every) -> None:
    for name, v in (("R", R), ("n_h", n_h), ("steps", steps), ("record_every", record_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; expected a positive integer")
    for name, v in (("sigma0", sigma0), ("lr", lr)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name}={v!r} is invalid; expected a finite positive number")


def train_relu_views(task: MultiViewTask, *, R: int, n_h: int, sigma0: float, lr: float, steps: int, seed: int = 0,
                     loss: str = "mse", batch_size: int | None = None, momentum: float = 0.0,
                     targets: Tensor | None = None, record_every: int = 10,
                     dtype: torch.dtype = torch.float32) -> ViewRun:
    """``R`` ReLU networks ``W2 relu(W1 x)`` (``n_h`` hidden units, every initial weight ``N(0, sigma0^2)``, seeds
    from ``seed``) trained on ``task`` with :func:`~gdln.engines.relu.train_relu_sgd` at step ``lr (1 - momentum)``.

    ``targets``: soft targets ``(R, n, K)`` (distillation) in place of the one-hot classes. Minibatches are drawn
    from the same seeded generator as the weights.
    """
    _check_common(R, n_h, sigma0, lr, steps, record_every)
    gen = make_gen(seed)
    W1, W2 = init_relu(task.d, n_h, task.K, sigma0, generator=gen, replicas=(R,), dtype=dtype)
    y = task.y.to(dtype) if targets is None else targets.to(dtype)
    run = train_relu_sgd(W1, W2, task.x.to(dtype), y, lr=lr * (1 - momentum), steps=steps, loss=loss,
                         weights=task.weight.to(dtype), batch_size=batch_size, momentum=momentum,
                         generator=gen, record_every=record_every, probe=task.probes().to(dtype))
    s, own, correct = relu_view_strengths(run.outputs, task.K, task.M)
    return ViewRun(run.t.double().numpy() / (1 - momentum), s, own, run.loss.double().numpy(), correct[-1],
                   weights=(run.W1, run.W2))


def teacher_targets(run: ViewRun, task: MultiViewTask, temperature: float = 2.0) -> Tensor:
    """A teacher's soft targets: ``softmax(f(x) / T)`` of the trained ReLU networks of ``run`` on every example,
    ``(R, n, K)`` (replica ``r`` of the student learns from replica ``r`` of the teacher)."""
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature={temperature!r} is invalid; expected a positive number")
    W1, W2 = run.weights
    return torch.softmax(relu_forward(W1, W2, task.x.to(W1.dtype)) / temperature, -1)


def decoupled_view_weights(task: MultiViewTask, graph, s0, *, generator: torch.Generator) -> Weights:
    """Eq. 9 for the view GDLN: decoupled, balanced weights whose pathway ``m`` has strength ``s0[..., y, m]`` on
    class ``y`` (every layer's singular value ``s0^(1/D)``; random orthonormal hidden bases from ``generator``)."""
    s0 = torch.tensor(np.array(s0, dtype=np.float64))
    if s0.shape[-2:] != (task.K, task.M) or (s0 < 0).any():
        raise ValueError(f"s0 has shape {tuple(s0.shape)}; expected (..., {task.K}, {task.M}) strengths >= 0")
    diag = diagonalize(graph, view_statistics(task, graph))
    # every statistic is a multiple of the identity, so the modes of Eq. 7 are the classes (up to order and
    # sign); read mode k's class off U and check that every input basis is the same
    U = diag.U["y"]
    cls = U.abs().argmax(0)
    if sorted(cls.tolist()) != list(range(task.K)) or (U.abs().amax(0) - 1).abs().max() > 1e-9 or any(
            (diag.V[f"v{m}"] - U).abs().max() > 1e-9 for m in range(task.M)):
        raise RuntimeError("the reduction's bases are not the class basis; cannot assign strengths to classes")
    R = node_bases(graph, diag, generator=generator)
    B0 = {}
    for m in range(task.M):
        p = view_path(graph, m)
        for e in p.edges:                  # a hidden-to-hidden edge has n_h >= K modes: the extra ones stay 0
            b = s0[..., cls, m] ** (1.0 / len(p.edges))
            B0[e] = torch.nn.functional.pad(b, (0, edge_modes(graph, e) - task.K))
    W = decoupled_init(graph, R, B0)
    return W


def train_gdln_views(task: MultiViewTask, *, R: int, n_h: int, lr: float, steps: int, depth: int = 2,
                     sigma0: float | None = None, s0=None, seed: int = 0, record_every: int = 10) -> ViewRun:
    """``R`` view GDLNs of ``depth`` layers trained by gradient descent (step ``lr``, units of tau) on the task's
    closed-form statistics, float64.

    From small random weights (every entry ``N(0, sigma0^2)``, seeds from ``seed``) when ``sigma0`` is given, or
    from decoupled balanced weights with strengths ``s0 (R, K, M)`` (:func:`decoupled_view_weights`).
    """
    if (sigma0 is None) == (s0 is None):
        raise ValueError("give exactly one of sigma0 (small random weights) or s0 (decoupled weights)")
    _check_common(R, n_h, 1.0 if sigma0 is None else sigma0, lr, steps, record_every)
    graph = view_graph(task.K, task.M, n_h, depth)
    gen = make_gen(seed)
    if sigma0 is not None:
        W0 = {e: sigma0 * torch.randn(R, *graph.shape(e), generator=gen, dtype=torch.float64) for e in graph.edges}
    else:
        s0 = np.asarray(s0, dtype=np.float64)
        if n_h < task.K:
            raise ValueError(f"n_h={n_h} is invalid for decoupled weights; each pathway needs n_h >= K = {task.K} modes")
        if s0.shape != (R, task.K, task.M):
            raise ValueError(f"s0 has shape {s0.shape}; expected ({R}, {task.K}, {task.M})")
        W0 = decoupled_view_weights(task, graph, s0, generator=gen)
    align0 = None
    if depth == 2:
        eye = np.eye(task.K)
        align0 = np.stack([np.stack([silent_alignment_a0(W0[f"W{m}_1"][r].numpy(), W0[f"W{m}_2"][r].numpy(), eye, eye)
                                     for m in range(task.M)], -1) for r in range(R)])
    n_rec = np.unique(np.r_[np.arange(0, steps + 1, record_every), steps])
    t = n_rec * lr
    traj = train(graph, W0, view_statistics(task, graph), t_eval=t, method="gd", dt=lr, record_weights=True)
    s, own, correct = gdln_view_strengths(graph, traj.weights, task.K, task.M)
    return ViewRun(t, s, own, traj.loss.numpy(), correct[-1], align0, traj.final)


def run_regimes(tasks: dict, *, R: int, n_h: int, sigma0: float, lr: float, steps: int, seed: int = 0,
                regimes: dict[str, dict] | None = None, teacher_of: dict[str, str] | None = None,
                temperature: float = 2.0, record_every: int = 2) -> dict[str, dict[str, ViewRun]]:
    """Train ReLU networks on every task under every regime (default :data:`REGIMES`): ``{regime: {task: run}}``.

    ``tasks``: name -> ``(task, w)``; a task is trained with its loss multiplied by ``w`` (the step ``lr w``, which
    for gradient descent is exactly that) and its times are reported as ``t / w``, so that a task holding only
    the examples of one view can stand for that view's share of a larger task. Every regime starts from the same
    initial weights (seed ``seed``). The "distillation" regime learns from soft targets at ``temperature``: those
    of the "CE, SGD + momentum" networks of seed ``seed + 10000`` (the teachers), trained on the task
    ``teacher_of[name]`` (default: the same task) and evaluated on the task's examples.
    """
    regimes = REGIMES if regimes is None else regimes
    teacher_of = teacher_of or {}
    kw = dict(R=R, n_h=n_h, sigma0=sigma0, record_every=record_every)
    out: dict[str, dict[str, ViewRun]] = {}
    teachers: dict[str, ViewRun] = {}
    for name, regime in regimes.items():
        out[name] = {}
        for tname, (task, w) in tasks.items():
            targets = None
            if name == "distillation":
                src = teacher_of.get(tname, tname)
                if src not in teachers:
                    t_task, t_w = tasks[src]
                    teachers[src] = train_relu_views(t_task, lr=lr * t_w, steps=steps, seed=seed + 10000,
                                                     **REGIMES["CE, SGD + momentum"], **kw)
                targets = teacher_targets(teachers[src], task, temperature)
            run = train_relu_views(task, lr=lr * w, steps=steps, seed=seed, targets=targets, **regime, **kw)
            run.t = run.t / w
            out[name][tname] = run
    return out


def redundant_race(run: ViewRun, p, K: int) -> dict[str, np.ndarray]:
    """Per-seed measurements of a run on a task whose views always co-occur, each ``(R,)``: ``A0`` the fraction of
    classes whose winner (strongest view at the end) has the largest initial advantage; ``align`` the same for the
    silent-alignment strength (two-layer GDLN only; else absent); ``coverage`` (mean over classes); ``growth`` the
    losers' :func:`~gdln.tasks.multiview.post_race_growth` (mean over classes and losing views); ``correct`` the
    fraction of views classified as their class on their own."""
    w = winners(run.s[-1])                                                  # (R, K)
    out = {"A0": (winners(initial_advantage(run.s[0], p, K)) == w).mean(-1),
           "coverage": coverage(run.s[-1]).mean(-1),
           "correct": run.correct.reshape(run.correct.shape[0], -1).mean(-1)}
    if run.align0 is not None:
        out["align"] = (winners(run.align0) == w).mean(-1)
    g = post_race_growth(run.t, run.s)                                      # (R, K, M)
    losers = np.arange(g.shape[-1]) != w[..., None]
    out["growth"] = np.where(losers, g, 0).sum((-2, -1)) / losers.sum((-2, -1))
    return out


def frequency_race(run: ViewRun, alone: ViewRun | None = None, *, level: float = 0.5) -> dict[str, np.ndarray]:
    """Per-seed measurements of a run on a task whose views never co-occur and differ in frequency (view 0 the most
    frequent, view ``M-1`` the rarest), each ``(R,)``: ``order`` the fraction of classes whose most frequent view
    is learned before the rarest (its own-class output reaches ``level`` first; a view that never does counts as
    last), and, given ``alone`` (the rarest view trained alone with its own share of the loss), ``coop`` the mean
    over classes of the rarest view's learning time with the other views over its learning time alone."""
    lt = learning_times(run.t, run.own, level=level)                        # (R, K, M)
    first, last = np.nan_to_num(lt[..., 0], nan=np.inf), np.nan_to_num(lt[..., -1], nan=np.inf)
    out = {"order": (first < last).mean(-1)}
    if alone is not None:
        lt_alone = learning_times(alone.t, alone.own, level=level)[..., -1]
        out["coop"] = np.nanmean(lt[..., -1] / lt_alone, -1)
    return out
