"""Claims of the routing chapters measured per reading, and the authors' notebook settings trained (issue 20).

:func:`route_claim_values` reads the end-of-training quantities that the routing chapter's claims judge
(Eq. 51's singular-value ratio, Fig. 4g's shared representation, Fig. 4h's untrained-route error) from
any slice of replicas of one :class:`~gdln.engines.routing.RoutingRun`, so a batched run that holds both
initialisation readings is judged reading by reading with one implementation.

:func:`train_fig4` and :func:`train_fig6` train this project's engine (:func:`gdln.engines.routing.train_routing`)
at the settings of the authors' notebooks (:mod:`gdln.tasks.readings`: their data, initialisation, routes,
step and epochs), converted to the book's units (Eq. 1 averaged over routes and items; ``t`` in tau), each
in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gdln.engines import metrics as mx
from gdln.engines.alignment import predicted_loss
from gdln.engines.race import crossing
from gdln.engines.routing import RoutingRun, RoutingWeights, init_routing_weights, train_routing
from gdln.tasks import readings as rd
from gdln.tasks.routing import RoutingTask, task_modes
from gdln.theory.sharing import half_time
from gdln.util.device import generator as make_gen

__all__ = ["route_claim_values", "paired_lateness", "Fig4Run", "train_fig4", "train_fig4_readings", "Fig6Run",
           "train_fig6", "train_fig6_readings", "steady_state_B"]


def route_claim_values(run: RoutingRun, task: RoutingTask, sl: slice = slice(None)) -> dict[str, float]:
    """End-of-training values of the routing claims for the replicas ``sl`` of ``run`` (means over them).

    ``sv_ratio``: top singular value of ``W2`` over that of the input blocks (mean over domains) (Eq. 51);
    ``sv_ratios``: the same for the four largest modes; ``shared_representation``: mean cosine of one item's
    first-hidden-layer activity on two different domains (Fig. 4g); ``zero_shot`` and ``trained_error``: the
    loss on untrained and on trained routes over that of the zero output (Fig. 4h).
    """
    out: dict[str, float] = {}
    if run.sv1 is not None:
        s1 = run.sv1[-1, sl, :, :4].double().mean(1)           # (reps, 4): input blocks, mean over domains
        s2 = run.sv2[-1, sl, 0, :4].double()                   # (reps, 4): hidden matrix
        ratio = (s2 / s1).mean(0)
        out["sv_ratio"] = float(ratio[0])
        out["sv_ratios"] = ratio.cpu().numpy()
    h1 = run.h1[sl, 0].double().cpu()
    out["shared_representation"] = float(mx.domain_item_similarity(h1)["same_item_cross_domain"].mean())
    trained = task.trained if task.trained.dim() == 2 else task.trained[sl]
    tr, un = mx.route_errors(run.outputs[sl].double().cpu(), task.Y.double().cpu(), trained.cpu())
    out["trained_error"], out["zero_shot"] = float(tr.mean()), float(un.mean())
    return out


def paired_lateness(t, loss, W0, task: RoutingTask) -> np.ndarray:
    """Per network, the half-way time of Eq. 15 from its own predicted start over its own measured one, ``(R,)``.

    ``loss``: ``(T, R)`` trained-route loss at times ``t``; ``W0``: the networks' initial weights. Pairing each
    network with its own prediction (:func:`gdln.engines.alignment.predicted_loss`, the silent-alignment start
    of Eqs. 13-15) removes the network-to-network spread of the start, so the mean over networks measures the
    bias of the prediction itself (positive: late).
    """
    t = np.asarray(t, dtype=np.float64)
    L = np.asarray(loss, dtype=np.float64)
    P = predicted_loss(W0.to(dtype=torch.float64, device="cpu"), task.to(dtype=torch.float64, device="cpu"), t)
    return np.array([half_time(t, P[:, k]) / half_time(t, L[:, k]) for k in range(L.shape[1])])


def steady_state_B(task: RoutingTask) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 51's end point per mode from balanced starts (C = 0): ``B2 = sqrt(M) B1``, ``B2 B1^2 = s/d``."""
    m = task_modes(task)
    B1 = ((m.s / m.d).numpy() / np.sqrt(task.M)) ** (1.0 / 3.0)
    return B1, np.sqrt(task.M) * B1


@dataclass
class Fig4Run:
    """The Fig. 4 notebook's settings trained by this project's engine (book units unless said).

    ``t``: (T,) time in tau; ``epoch``: (T,) the notebook's epochs; ``loss``: (T, R) Eq. 1 on trained routes;
    ``loss_nb``: the same in the notebook's units (``loss_factor`` times); ``predicted``: (T,) mean of Eq. 15
    from each network's predicted initial condition (:func:`gdln.engines.alignment.predicted_loss`);
    ``sv``: final top-4 singular values, mean over networks (and domains), per layer ``W1``, ``W2``, ``W3``;
    ``sv_theory``: Eq. 51's end points ``(B1, B2)`` per mode; ``values``: :func:`route_claim_values`.
    """

    settings: rd.NotebookSettings
    lr_eq1: float
    t: np.ndarray
    epoch: np.ndarray
    loss: np.ndarray
    loss_nb: np.ndarray
    predicted: np.ndarray
    sv: dict
    sv_theory: tuple[np.ndarray, np.ndarray]
    values: dict
    half_time_ratio: float
    run: RoutingRun
    task: RoutingTask
    scheme: str = "orthogonal"
    reps: int = 0


def train_fig4_readings(*, seed: int = 0, device="cpu", reps: int | None = None, record_every: int = 2,
                        settings: rd.NotebookSettings = rd.FIG4, schemes=None) -> dict[str, Fig4Run]:
    """The Fig. 4 notebook's settings under each initialisation reading in ``schemes`` (default: the notebook's),
    ``reps`` networks each (default the notebook's 10), all in ONE batched call: ``{scheme: Fig4Run}``.

    The networks of the first scheme are drawn first from the seeded generator, so adding a reading leaves the
    others' initial weights unchanged.
    """
    schemes = (settings.scheme,) if schemes is None else tuple(schemes)
    reps = settings.reps if reps is None else int(reps)
    task = rd.notebook_task(settings, dtype=torch.float32, device=device)
    lr = rd.eq1_step(settings.lr, task)
    g = make_gen(seed, device)
    parts = [init_routing_weights(reps, settings.M, task.n_x, settings.n_h, task.n_y, sigma0=settings.sigma0,
                                  generator=g, scheme=sc) for sc in schemes]
    W0 = RoutingWeights(*(torch.cat([getattr(p, k) for p in parts]) for k in ("W1", "W2", "W3")))
    run = train_routing(W0, task, lr=lr, steps=settings.epochs, record_every=record_every,
                        sv_every=record_every * 25)
    t = run.t[:, 0].double().cpu().numpy()
    task64 = task.to(dtype=torch.float64, device="cpu")
    out = {}
    for c, (sc, W) in enumerate(zip(schemes, parts)):
        sl = slice(c * reps, (c + 1) * reps)
        loss = run.loss_trained[:, sl].double().cpu().numpy()
        pred = predicted_loss(W, task64, t).mean(1)
        sv = {"W1": run.sv1[-1, sl, :, :4].double().mean((0, 1)).cpu().numpy(),
              "W2": run.sv2[-1, sl, 0, :4].double().mean(0).cpu().numpy(),
              "W3": run.sv3[-1, sl, :, :4].double().mean((0, 1)).cpu().numpy()}
        out[sc] = Fig4Run(settings=settings, lr_eq1=lr, t=t, epoch=run.step.double().cpu().numpy(), loss=loss,
                          loss_nb=loss * rd.loss_factor(task), predicted=pred, sv=sv, sv_theory=steady_state_B(task),
                          values=route_claim_values(run, task, sl),
                          half_time_ratio=float(half_time(t, pred) / half_time(t, loss.mean(1))), run=run, task=task,
                          scheme=sc, reps=reps)
    return out


def train_fig4(*, seed: int = 0, device="cpu", reps: int | None = None, record_every: int = 2,
               settings: rd.NotebookSettings = rd.FIG4) -> Fig4Run:
    """Train ``reps`` networks (default the notebook's 10) at the Fig. 4 notebook's settings in one batched call."""
    return train_fig4_readings(seed=seed, device=device, reps=reps, record_every=record_every,
                               settings=settings)[settings.scheme]


@dataclass
class Fig6Run:
    """The Fig. 6 notebook's sweep trained by this project's engine.

    ``sigmas``: (G,) scales; ``lr_nb``, ``lr_eq1``: (G,) steps in the notebook's and the book's units;
    ``t_end``: (G,) horizon in tau; ``trained``, ``untrained``: (G, S) normalised errors at the end (loss
    over the zero output's); ``trained_nb``, ``untrained_nb``: (G, S) the notebook's measure, the mean over
    routes of ``||Y - yhat||_F^2 / 2``; ``loss_nb``: (T, G, S) the notebook's loss; ``breakdown``: the
    scale where the seed-mean untrained error first reaches ``level`` (:func:`gdln.engines.race.crossing`).
    """

    sigmas: np.ndarray
    lr_nb: np.ndarray
    lr_eq1: np.ndarray
    t_end: np.ndarray
    epoch: np.ndarray
    trained: np.ndarray
    untrained: np.ndarray
    trained_nb: np.ndarray
    untrained_nb: np.ndarray
    loss_nb: np.ndarray
    level: float
    breakdown: float
    scheme: str = "orthogonal"


def train_fig6_readings(*, seed: int = 0, device="cpu", seeds: int = 1, level: float = 0.1, record_every: int = 10,
                        settings: rd.NotebookSettings = rd.FIG6, schemes=None) -> dict[str, Fig6Run]:
    """The notebook's Fig. 6 sweep (every scale x ``seeds`` networks) under each initialisation reading in
    ``schemes`` (default: the notebook's), all in ONE batched call with a step per network: ``{scheme: Fig6Run}``."""
    schemes = (settings.scheme,) if schemes is None else tuple(schemes)
    task = rd.notebook_task(settings, dtype=torch.float32, device=device)
    sig = rd.fig6_scales()
    G, S, C = len(sig), int(seeds), len(schemes)
    s_rep = torch.tensor(np.repeat(sig, S), dtype=torch.float32, device=device)
    lr_nb = rd.fig6_lr(sig)
    lr_eq1 = lr_nb * rd.loss_factor(task)
    g = make_gen(seed, device)
    parts = [init_routing_weights(G * S, settings.M, task.n_x, settings.n_h, task.n_y, sigma0=s_rep, generator=g,
                                  scheme=sc) for sc in schemes]
    W0 = RoutingWeights(*(torch.cat([getattr(p, k) for p in parts]) for k in ("W1", "W2", "W3")))
    lr_rep = torch.tensor(np.tile(np.repeat(lr_eq1, S), C), dtype=torch.float32, device=device)
    run = train_routing(W0, task, lr=lr_rep, steps=settings.epochs, record_every=record_every, record_sv=False)
    Y, T = task.Y.double().cpu(), task.trained.cpu()
    n = task.n                                               # notebook's measure: ||.||^2 / 2 = n x (1/2n) ||.||^2
    out = {}
    for c, sc in enumerate(schemes):
        sl = slice(c * G * S, (c + 1) * G * S)
        yh = run.outputs[sl].double().cpu()
        tr, un = mx.route_errors(yh, Y, T)
        tr_raw, un_raw = mx.route_errors(yh, Y, T, normalise=False)
        untrained = un.numpy().reshape(G, S)
        loss = run.loss_trained[:, sl].double().cpu().numpy().reshape(-1, G, S)
        out[sc] = Fig6Run(sigmas=sig, lr_nb=lr_nb, lr_eq1=lr_eq1, t_end=settings.epochs * lr_eq1,
                          epoch=run.step.double().cpu().numpy(), trained=tr.numpy().reshape(G, S), untrained=untrained,
                          trained_nb=n * tr_raw.numpy().reshape(G, S), untrained_nb=n * un_raw.numpy().reshape(G, S),
                          loss_nb=loss * rd.loss_factor(task), level=level,
                          breakdown=crossing(sig, untrained.mean(1), level), scheme=sc)
    return out


def train_fig6(*, seed: int = 0, device="cpu", seeds: int = 1, level: float = 0.1, record_every: int = 10,
               settings: rd.NotebookSettings = rd.FIG6) -> Fig6Run:
    """Train the notebook's Fig. 6 sweep (every scale x ``seeds`` networks) in one batched call, per-replica steps."""
    return train_fig6_readings(seed=seed, device=device, seeds=seeds, level=level, record_every=record_every,
                               settings=settings)[settings.scheme]
