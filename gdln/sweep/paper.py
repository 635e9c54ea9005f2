"""Section 5's sweeps as the experiments chapter asks for them, and one for each of the paper's panels.

The experiments chapter trains its sweeps through :func:`gdln.sweep.store.obtain`, which takes an
archived sweep only when its :class:`~gdln.sweep.spec.SweepSpec` equals the one asked for in every
field. So the sweeps that a GPU should run for the chapter are built here by the same rules the
chapter uses (:func:`k_grid`, :func:`k_gain`, :func:`protocol`), and ``python -m gdln.sweep paper``
trains those of :func:`paper_sweeps` that the archive does not hold yet.

Each panel's ``M``, ``N_h``, seeds and gain grid are the paper's (:data:`gdln.tasks.panels.PANELS`,
App. D and Table 1: ``M = 100`` for MNIST in Figs. 7c, 8 ii, 10 i, ``M = 40`` elsewhere, ``N_h = 1,024``
for CIFAR-10, 10 seeds, ``K = 10`` in Fig. 10). The step budget is the chapter's full protocol (6,000
steps at batch 100, lr 0.05, momentum 0.9: 0.4x the paper's gradient-flow time), not the paper's 1,000
epochs at batch 8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gdln.engines.routenet import step_flops
from gdln.sweep.spec import SweepSpec
from gdln.tasks.panels import PANELS
from gdln.tasks.routing import trained_routes

__all__ = ["FRACTIONS", "k_grid", "k_gain", "protocol", "gain_lrs", "PaperSweep", "paper_sweeps", "sweep_flops", "tiny"]

#: K/M grids of the chapter's two modes.
FRACTIONS = {"quick": (0.1, 0.2, 0.3, 0.4, 0.6), "full": (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)}
#: The paper's initial gains of Fig. 10, and the chapter's gain for every other sweep.
GAINS = {"quick": (10.0, 1.0, 0.1, 0.01), "full": (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4)}
GAIN = 0.1


def _mode(mode: str) -> bool:
    if mode not in ("quick", "full"):
        raise ValueError(f"mode={mode!r} is invalid; expected 'quick' or 'full'")
    return mode == "quick"


def k_grid(M: int, mode: str = "full") -> list[int]:
    """The K values of a sweep over the fraction of trained routes (K = 1 is added in quick mode)."""
    quick = _mode(mode)
    return sorted({max(1, round(f * M)) for f in FRACTIONS[mode]} | ({1} if quick else set()))


def k_gain(M: int) -> int:
    """K of the gain sweep: the paper's K = 10 at M = 40 and 100, 0.4 M below that."""
    return min(10, max(1, round(0.4 * M)))


def protocol(mode: str = "full") -> dict:
    """Data and training of the chapter's mode: MNIST and CIFAR data scale, the SGD protocol, widths."""
    quick = _mode(mode)
    return dict(mnist=dict(n_train=2000 if quick else 60000, n_test=500 if quick else 10000, downsample=2 if quick else 1),
                cifar=dict(n_train=1000 if quick else 50000, n_test=500 if quick else 10000),
                train=dict(steps=250 if quick else 6000, batch_size=100, lr=0.2 if quick else 0.05, momentum=0.9,
                           loss="ce"),
                hidden=64 if quick else 128, hidden_cifar=64 if quick else 1024, gains=list(GAINS[mode]), gain=GAIN)


def gain_lrs(mode: str = "full") -> list[float]:
    """One step size per gain: gains above 1 train with the step divided by the squared gain."""
    p = protocol(mode)
    return [p["train"]["lr"] / max(1.0, g) ** 2 for g in p["gains"]]


@dataclass(frozen=True)
class PaperSweep:
    """One sweep of :func:`paper_sweeps`: the archive name it is filed under, what it is, its spec."""

    name: str
    what: str
    spec: SweepSpec


def _spec(family: str, M: int, Ks, *, mode: str, seeds, family_seed: int, gains=None, n_h=None,
          nonlinearity="linear", **train) -> SweepSpec:
    p = protocol(mode)
    data = p["cifar" if family.startswith("cifar") else "mnist"]
    return SweepSpec(family=family, M=M, Ks=tuple(Ks), gains=tuple(gains or [p["gain"]]), seeds=tuple(seeds),
                     n_h=n_h or p["hidden"], nonlinearity=nonlinearity, family_seed=family_seed, **data,
                     train={**p["train"], **train})


def paper_sweeps(n_seeds: int | None = None, seed: int = 0) -> list[PaperSweep]:
    """One sweep for each distinct panel of Section 5 (:data:`gdln.tasks.panels.PANELS`), at its ``M``,
    ``N_h`` and number of seeds (``n_seeds`` overrides it), built by the chapter's rules: the K sweeps on
    :func:`k_grid`, the gain sweeps at the panel's ``K`` over its gains (:func:`gain_lrs`), the chapter's
    full protocol. Panels that share a run (Figs. 7c and 8 ii; 7b and 8 i) share one sweep.
    """
    out: dict[str, PaperSweep] = {}
    for fig, p in PANELS.items():
        S = n_seeds or p.seeds
        seeds = list(range(seed, seed + S))
        kw = dict(mode="full", seeds=seeds, family_seed=seed, nonlinearity=p.nonlinearity)
        gain = p.Ks is not None
        if gain:
            spec = _spec(p.family, p.M, p.Ks, gains=p.gains, lr=gain_lrs("full"), **kw)
        else:
            spec = _spec(p.family, p.M, k_grid(p.M), n_h=p.n_h, **kw)
        leaky = "-leaky" if p.nonlinearity == "leaky_relu" else ""
        width = f"-h{p.n_h}" if p.n_h != protocol("full")["hidden"] else ""
        name = f"{p.family}{'-gains' if gain else ''}{leaky}-M{p.M}{width}-s{S}-full"
        if name in out:
            out[name] = dataclasses.replace(out[name], what=out[name].what.replace(" (", f" and {fig} (", 1))
            continue
        out[name] = PaperSweep(name, f"{fig} ({p.what}), M = {p.M}, N_h = {p.n_h}, {S} seeds, the chapter's full "
                               "protocol (6,000 steps at batch 100, lr 0.05, momentum 0.9)", spec)
    return list(out.values())


def sweep_flops(spec: SweepSpec) -> float:
    """Training FLOPs of ``spec`` with the trained-route engine (:func:`~gdln.engines.routenet.step_flops`)."""
    d = {"mnist-permuted": 784, "mnist-rotated": 784, "cifar-rotated": 512}[spec.family] // spec.downsample ** 2
    routes = sum(int(trained_routes(spec.M, k, seed=s).sum()) for k, _ in spec.points for s in spec.seeds)
    R = len(spec.points) * len(spec.seeds)
    return step_flops(R, spec.M, routes, batch=int(spec.train["batch_size"] or spec.n_train), d=d, n_h=spec.n_h) \
        * int(spec.train["steps"])


def tiny(sweep: PaperSweep) -> PaperSweep:
    """The same sweep at a size a CPU test trains in seconds (the same code path: M = 3, few images and steps)."""
    s = sweep.spec
    Ks = sorted({min(3, max(1, k * 3 // s.M)) for k in s.Ks})
    lr = s.train["lr"]
    small = dataclasses.replace(s, M=3, Ks=tuple(Ks) if len(s.Ks) > 1 else (1,), seeds=s.seeds[:2], n_h=8,
                                n_train=200, n_test=100, downsample=4 if s.family.startswith("mnist") else 1,
                                train={**s.train, "steps": 6, "batch_size": 20, "record_every": 3,
                                       "lr": lr if not isinstance(lr, list) else lr})
    return PaperSweep(f"{sweep.name}-tiny", f"tiny test of: {sweep.what}", small)
