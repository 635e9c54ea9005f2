"""Eq. 15 from small random weights, predicted rather than fitted (Sec. 4, Fig. 4e).

Eq. 15 is exact from decoupled initial conditions (Eq. 9). For random weights it needs an initial
condition, and this module compares two:

- *predicted*: :func:`gdln.engines.metrics.aligned_initial_B`, the silent-alignment strengths of the
  mode shared by all domains, read off each network's own initial weights; nothing is fitted;
- *fitted*: :func:`gdln.theory.routing.fit_initial_scale`, one factor ``c`` on the root-mean-square
  singular values, chosen to match the measured mean loss curve.

:func:`predicted_loss` gives each network's Eq. 15 loss curve from its predicted initial condition;
:func:`compare` trains the networks once and measures both; :func:`prediction_sweep` repeats that over
``M`` and ``sigma_0`` for both readings of ``sigma_0`` (one batched tensor program per ``M``);
:func:`predicted_sharing_half_time` applies the same initial condition to the P-sharing pathways of
Fig. 5b (Eqs. 16-17).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from gdln.engines.metrics import aligned_initial_B, effective_initial_B
from gdln.engines.race import SharingRun
from gdln.engines.routing import RoutingWeights, init_routing_weights, train_routing
from gdln.tasks.routing import RoutingTask, block_task, routing_task, task_modes
from gdln.theory.routing import fit_initial_scale, integrate_eq15
from gdln.theory.sharing import block_size, half_time, integrate_sharing
from gdln.util.device import generator as make_gen

__all__ = ["predicted_loss", "Comparison", "compare", "prediction_sweep", "predicted_sharing_half_time", "sweep_html",
    "SCHEMES"]

#: The two readings of sigma_0 (Sec. 4: Xavier scaled by sigma_0; Sec. 4.3: singular value sigma_0).
SCHEMES = ("xavier", "orthogonal")


def _predicted_start(W0: RoutingWeights, task: RoutingTask, modes) -> tuple[np.ndarray, np.ndarray]:
    """Each network's predicted ``(B1(0), B2(0))``, each ``(R, r)`` (computed on the CPU)."""
    B = aligned_initial_B(W0.to(torch.device("cpu")), modes.U, modes.V, task.trained.cpu())
    return B[0].numpy(), B[1].numpy()


def _eq15_loss(B1, B2, task: RoutingTask, modes, t) -> np.ndarray:
    return integrate_eq15(B1, B2, modes.s.numpy(), modes.d.numpy(), task.M, np.asarray(t, float),
                          y_power=modes.y_power).loss


def predicted_loss(W0: RoutingWeights, task: RoutingTask, t) -> np.ndarray:
    """Eq. 15 from each network's predicted initial condition: the trained-route loss, ``(T, R)``."""
    modes = task_modes(task)
    return _eq15_loss(*_predicted_start(W0, task, modes), task, modes, t)


@dataclass(frozen=True)
class Comparison:
    """Measured against predicted and fitted Eq. 15 for one group of random networks.

    ``dev_pred`` / ``dev_fit``: largest gap between the mean measured loss and the mean predicted loss /
    the fitted Eq. 15, as a fraction of the zero-output loss ``L(0)``; ``c_fit``: the fitted scale;
    ``t_ratio``: half-way time of the mean predicted curve over that of the mean measured curve;
    ``t_spread``: sample sd over the networks of their own half-way times, relative to their mean;
    ``B1_ratio`` / ``B2_ratio``: the predicted initial condition over the RMS singular values (mean).
    """

    M: int
    K: int
    sigma0: float
    scheme: str
    n: int
    c_fit: float
    dev_fit: float
    dev_pred: float
    t_ratio: float
    t_spread: float
    B1_ratio: float
    B2_ratio: float

    def row(self) -> dict:
        return asdict(self)


def compare(t, loss, W0: RoutingWeights, task: RoutingTask, *, sigma0: float, scheme: str) -> Comparison:
    """Compare the measured trained-route losses ``loss`` ``(T, R)`` at times ``t`` of the networks started
    from ``W0`` with Eq. 15 from their predicted initial conditions and with the one-scale fit."""
    t = np.asarray(t, float)
    loss = np.asarray(loss, float)
    if loss.ndim != 2 or loss.shape != (t.size, W0.R):
        raise ValueError(f"loss has shape {loss.shape}; expected (len(t), R) = ({t.size}, {W0.R})")
    modes = task_modes(task)
    L0 = modes.y_power / 2
    B1p, B2p = _predicted_start(W0, task, modes)
    pred = _eq15_loss(B1p, B2p, task, modes, t)
    mean, mean_pred = loss.mean(1), pred.mean(1)
    b1, b2 = (float(v.mean()) for v in effective_initial_B(W0))
    c, dev_fit = fit_initial_scale(t, mean, b1, b2, modes.s.numpy(), modes.d.numpy(), task.M, y_power=modes.y_power)
    each = half_time(t, loss)
    return Comparison(
        M=task.M, K=int(task.trained[0].sum()), sigma0=float(sigma0), scheme=scheme, n=W0.R, c_fit=c,
        dev_fit=dev_fit, dev_pred=float(np.abs(mean - mean_pred).max() / L0),
        t_ratio=float(half_time(t, mean_pred) / half_time(t, mean)),
        t_spread=float(np.std(each, ddof=1) / np.mean(each)) if W0.R > 1 else float("nan"),
        B1_ratio=float(B1p.mean()) / b1, B2_ratio=float(B2p.mean()) / b2)


def prediction_sweep(Ms: Sequence[int], sigma0s: Sequence[float], *, reps: int, n_h: int = 64, lr: float = 0.02,
                     horizon: float = 40.0, seed: int = 0, device=None) -> list[Comparison]:
    """Train ``reps`` networks per ``M`` in ``Ms`` (``K = ceil(M / 2)``), ``sigma_0`` in ``sigma0s`` and reading.

    Each ``M`` is one batched run over both readings and all ``sigma_0``; a network of scale ``sigma_0``
    is compared up to ``horizon * (M / 7) * (0.2 / sigma_0)`` (units of tau), the time Eq. 15 takes
    to learn every mode scaling like ``M / sigma_0``.
    """
    for name, v in (("reps", reps), ("n_h", n_h)):
        if not isinstance(v, int) or v < 2:
            raise ValueError(f"{name}={v!r} is invalid; expected an integer >= 2")
    if not Ms or any(not isinstance(M, int) or M < 2 for M in Ms):
        raise ValueError(f"Ms={Ms!r} is invalid; expected integers >= 2")
    if not sigma0s or any(not (s > 0) for s in sigma0s):
        raise ValueError(f"sigma0s={sigma0s!r} is invalid; expected positive initial scales")
    out = []
    for M in Ms:
        task = routing_task(M, (M + 1) // 2, seed=seed)
        sig = torch.tensor([s for s in sigma0s for _ in range(reps)])
        g = make_gen(seed + 17 * M, device or "cpu")
        parts = [init_routing_weights(sig.numel(), M, task.n_x, n_h, task.n_y, sigma0=sig.to(g.device),
                                      generator=g, scheme=sc) for sc in SCHEMES]
        W0 = RoutingWeights(*(torch.cat(ws) for ws in zip(*((w.W1, w.W2, w.W3) for w in parts))))
        t_end = [horizon * (M / 7) * (0.2 / s) for s in sigma0s]
        steps = int(round(max(t_end) / lr))
        run = train_routing(W0, task.to(g.device), lr=lr, steps=steps, record_every=max(int(round(0.1 / lr)), 1),
                            record_sv=False)
        t = run.t[:, 0].double().cpu().numpy()
        loss = run.loss_trained.double().cpu().numpy()
        W0c = W0.to(torch.device("cpu"))
        for a, sc in enumerate(SCHEMES):
            for b, (s, te) in enumerate(zip(sigma0s, t_end)):
                lo = (a * len(sigma0s) + b) * reps
                keep = t <= te + 1e-9
                Wg = RoutingWeights(*(w[lo:lo + reps] for w in (W0c.W1, W0c.W2, W0c.W3)))
                out.append(compare(t[keep], loss[keep, lo:lo + reps], Wg, task, sigma0=s, scheme=sc))
    return out


def predicted_sharing_half_time(run: SharingRun, *, seed: int = 0) -> float:
    """Half-way time of the top mode's ``B2`` (mean over pathways and networks) predicted by Eqs. 16-17
    from each pathway's :func:`~gdln.engines.metrics.aligned_initial_B` (Fig. 5b from random weights).

    A P-sharing pathway is a block network of ``sqrt(P)`` domains with every route trained (a
    ``sqrt(P)``-regular mask), so the same derivation gives its initial condition; ``seed`` is the
    block task's seed used by :func:`gdln.engines.race.sharing_experiment`.
    """
    if run.W0 is None:
        raise ValueError("run.W0 is None; expected a SharingRun from train_sharing, which keeps its initial weights")
    bt = block_task(run.P, seed=seed)
    modes = task_modes(bt)
    n = block_size(run.M, run.P)
    B1, B2 = aligned_initial_B(run.W0, modes.U, modes.V, torch.ones(n, n))
    b1, b2 = B1[:, 0].numpy(), B2[:, 0].numpy()               # top mode of every pathway of every network
    S, D = float(modes.s[0]), float(modes.d[0])
    t = np.linspace(0.0, 60.0 * run.M ** 2 / (run.P * S * float(min(b1.min(), b2.min()))), 20001)
    tr = integrate_sharing(np.full(b1.size, S), np.full(b1.size, D), run.M, run.P, b1, b2, t=t)
    return float(half_time(t, tr.B2[:, 0, :].mean(1)))


#: Columns of :func:`sweep_html`: (header, attribute or callable, format).
_COLUMNS = (("reading", "scheme", "{}"), ("M", "M", "{}"), ("K", "K", "{}"), ("σ₀", "sigma0", "{:g}"),
            ("fitted c", "c_fit", "{:.3f}"), ("1/√M", lambda r: r.M ** -0.5, "{:.3f}"),
            ("gap, fit", "dev_fit", "{:.3f}"), ("B₁(0)/b₁", "B1_ratio", "{:.3f}"), ("B₂(0)/b₂", "B2_ratio", "{:.3f}"),
            ("gap, predicted", "dev_pred", "{:.3f}"), ("half-way time, pred./meas.", "t_ratio", "{:.3f}"),
            ("spread of that time", "t_spread", "{:.3f}"))


def sweep_html(rows: Sequence[Comparison]) -> str:
    """The rows of :func:`prediction_sweep` as an HTML table (gaps as fractions of the initial loss)."""
    get = lambda r, a: a(r) if callable(a) else getattr(r, a)  # noqa: E731
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(f.format(get(r, a)))}</td>" for _, a, f in _COLUMNS) + "</tr>"
                   for r in rows)
    return f'<table class="gdln-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
