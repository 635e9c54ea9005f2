"""One Section 5 sweep as data: what to train, how to split it into shards, how to put it back together.

A :class:`SweepSpec` names a task family (MNIST with permuted or rotated input domains, CIFAR-10
rotated through the frozen ResNet-20), its number of domains ``M``, the sweep points (``K`` values
and initial gains, zipped), the seeds, the network width and the training protocol. :func:`run`
trains every replica (point x seed) in one batched program with
:func:`gdln.engines.routenet.run_sweep`.

Sharding: every replica of that program is independent of the others (its initial weights depend
only on its seed and gain, its trained routes only on its ``K`` and seed, and the minibatch order
only on the protocol's ``batch_seed``, shared by all replicas). So the grid of points x seeds can be
cut into blocks (:func:`shard`), each block trained by another process or machine, and
:func:`gather` puts the blocks' arrays back into exactly the arrays of the single-process run
(``tests/test_sweep.py`` checks this bit for bit on the CPU).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gdln.engines.routenet import History, SweepResult, run_sweep
from gdln.tasks.images import TaskFamily, mnist_family
from gdln.tasks.resnet import cifar_family
from gdln.util.files import atomic_open

__all__ = ["FAMILIES", "SweepSpec", "family_key", "build_family", "run", "shard", "gather", "save_result", "load_result",
           "replay_prefix"]

#: Task families a sweep can train on (App. D).
FAMILIES = ("mnist-permuted", "mnist-rotated", "cifar-rotated")
#: The arrays of a :class:`~gdln.engines.routenet.SweepResult` that a shard returns and gather joins.
ARRAYS = ("trained", "untrained", "acc", "masks")


def _ints(name: str, values, lo: int) -> tuple[int, ...]:
    out = tuple(values)
    if not out or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo for v in out):
        raise ValueError(f"{name}={list(out)!r} is invalid; expected a non-empty list of integers >= {lo}")
    return tuple(int(v) for v in out)


@dataclass(frozen=True)
class SweepSpec:
    """A sweep of the route network on one task family (Figs. 7-10): points ``zip(Ks, gains)`` x ``seeds``.

    ``Ks`` or ``gains`` may have length 1 (broadcast against the other). ``train`` holds the keyword
    arguments of :func:`gdln.engines.routenet.train` (steps, batch_size, lr, momentum, loss, ...).
    ``family_seed`` fixes the pixel permutations and label permutations of the task family.
    """

    family: str
    M: int
    Ks: tuple[int, ...]
    gains: tuple[float, ...]
    seeds: tuple[int, ...]
    n_h: int
    n_train: int
    n_test: int
    downsample: int = 1
    nonlinearity: str = "linear"
    label_kind: str = "random"
    family_seed: int = 0
    train: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family={self.family!r} is invalid; expected one of {FAMILIES}")
        _ints("M", [self.M], 1)
        object.__setattr__(self, "Ks", _ints("Ks", self.Ks, 1))
        object.__setattr__(self, "seeds", _ints("seeds", self.seeds, 0))
        gains = tuple(float(g) for g in self.gains)
        if not gains or any(not math.isfinite(g) or g <= 0 for g in gains):
            raise ValueError(f"gains={list(self.gains)!r} is invalid; expected positive finite numbers")
        object.__setattr__(self, "gains", gains)
        if max(self.Ks) > self.M:
            raise ValueError(f"Ks={list(self.Ks)} is invalid; every K must be <= M={self.M}")
        if len(self.Ks) != len(self.gains) and 1 not in (len(self.Ks), len(self.gains)):
            raise ValueError(f"Ks ({len(self.Ks)}) and gains ({len(self.gains)}) must have equal lengths or length 1")
        for name in ("n_h", "n_train", "n_test", "downsample"):
            _ints(name, [getattr(self, name)], 1)
        lr = self.train.get("lr")
        if isinstance(lr, (list, tuple)) and len(lr) != len(self.points):
            raise ValueError(f"train['lr'] has {len(lr)} values; expected one number or one per point ({len(self.points)})")

    @property
    def points(self) -> list[tuple[int, float]]:
        """The sweep points ``(K, gain)``, broadcast as :func:`~gdln.engines.routenet.run_sweep` does."""
        P = max(len(self.Ks), len(self.gains))
        Ks = self.Ks * P if len(self.Ks) == 1 else self.Ks
        gains = self.gains * P if len(self.gains) == 1 else self.gains
        return list(zip(Ks, gains))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SweepSpec":
        d = json.loads(text)
        return cls(**{**d, "Ks": tuple(d["Ks"]), "gains": tuple(d["gains"]), "seeds": tuple(d["seeds"])})


def family_key(spec: SweepSpec) -> tuple:
    """The fields of ``spec`` that define its task family (data, domains, labels), not its training."""
    return (spec.family, spec.M, spec.n_train, spec.n_test, spec.downsample, spec.label_kind, spec.family_seed)


def build_family(spec: SweepSpec, *, data_dir=None, device="cpu") -> TaskFamily:
    """The task family of ``spec`` (data read from the data directory, see :mod:`gdln.data`).

    The last family built is kept, so that sweeps of one family in a row (a chapter's K sweep, gain
    sweep and leaky sweep) decode, permute or encode the images once. It is let go before another is
    built, so that two families never share the memory (one M = 40 rotated family holds 9 GB).
    """
    key = (*family_key(spec), str(data_dir), str(device))
    if _LAST_FAMILY and _LAST_FAMILY[0] == key:
        return _LAST_FAMILY[1]
    _LAST_FAMILY.clear()
    fam = _build_family(spec, data_dir=data_dir, device=device)
    _LAST_FAMILY[:] = [key, fam]
    return fam


_LAST_FAMILY: list = []


def _build_family(spec: SweepSpec, *, data_dir=None, device="cpu") -> TaskFamily:
    if spec.family.startswith("mnist"):
        return mnist_family(spec.family.split("-")[1], spec.M, n_train=spec.n_train, n_test=spec.n_test,
                            downsample=spec.downsample, label_kind=spec.label_kind, seed=spec.family_seed,
                            data_dir=data_dir)
    return cifar_family(spec.M, n_train=spec.n_train, n_test=spec.n_test, label_kind=spec.label_kind,
                        seed=spec.family_seed, data_dir=data_dir, device=device)


def run(spec: SweepSpec, *, family: TaskFamily | None = None, device="cpu", data_dir=None,
        progress: bool = False) -> SweepResult:
    """Train every replica of ``spec`` in one batched program (the single-process run)."""
    fam = family if family is not None else build_family(spec, data_dir=data_dir, device=device)
    Ks, gains = zip(*spec.points)
    return run_sweep(fam.train_x, fam.train_y, fam.test_x, fam.test_y, fam.label_perms, Ks=list(Ks),
                     gains=list(gains), seeds=list(spec.seeds), n_h=spec.n_h, nonlinearity=spec.nonlinearity,
                     device=device, desc=spec.family, progress=progress, **spec.train)


def shard(spec: SweepSpec, n_shards: int) -> list[tuple[SweepSpec, list[int], list[int]]]:
    """Cut the points x seeds grid into at most ``n_shards`` blocks.

    Returns ``(sub_spec, point_indices, seed_indices)`` per block: points are split first (contiguous
    runs), then, when there are more shards than points, the seeds of each point block.
    """
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or n_shards < 1:
        raise ValueError(f"n_shards={n_shards!r} is invalid; expected a positive integer")
    points, S = spec.points, len(spec.seeds)
    n_p = min(n_shards, len(points))
    n_s = min(max(1, n_shards // n_p), S)
    out = []
    for pb in np.array_split(np.arange(len(points)), n_p):
        for sb in np.array_split(np.arange(S), n_s):
            pts = [points[i] for i in pb]
            lr = spec.train.get("lr")
            train = {**spec.train, "lr": [lr[i] for i in pb]} if isinstance(lr, (list, tuple)) else spec.train
            sub = dataclasses.replace(spec, Ks=tuple(k for k, _ in pts), gains=tuple(g for _, g in pts),
                                      seeds=tuple(spec.seeds[i] for i in sb), train=train)
            out.append((sub, pb.tolist(), sb.tolist()))
    return out


def gather(spec: SweepSpec, parts: list[tuple[list[int], list[int], SweepResult]]) -> SweepResult:
    """Join shard results ``(point_indices, seed_indices, result)`` into the arrays of the whole sweep.

    Every (point, seed) replica must come from exactly one shard. The loss history keeps one column per
    replica in the single-process order (point-major, then seed). The trained networks are not kept.
    """
    P, S = len(spec.points), len(spec.seeds)
    seen = np.zeros((P, S), dtype=int)
    arrays: dict[str, torch.Tensor] = {}
    steps, losses = None, None
    for pi, si, res in parts:
        seen[np.ix_(pi, si)] += 1
        for name in ARRAYS:
            a = getattr(res, name)
            if name not in arrays:
                fill = float("nan") if a.is_floating_point() else 0
                arrays[name] = torch.full((P, S, *a.shape[2:]), fill, dtype=a.dtype)
            arrays[name][np.ix_(pi, si)] = a
        if steps is None:
            steps = list(res.history.step)
            losses = [torch.full((P, S), float("nan"), dtype=res.history.loss[0].dtype) for _ in steps]
        if list(res.history.step) != steps:
            raise ValueError("shards recorded the loss at different steps; were they run with one protocol?")
        for k, L in enumerate(res.history.loss):
            losses[k][np.ix_(pi, si)] = L.reshape(len(pi), len(si))
    if (seen != 1).any():
        bad = np.argwhere(seen != 1)[:5].tolist()
        raise ValueError(f"replicas (point, seed) {bad} are covered {seen[tuple(np.array(bad).T)].tolist()} times; "
                         "expected exactly once")
    hist = History(lr=max(p[2].history.lr for p in parts))
    hist.step, hist.loss = steps, [L.reshape(-1) for L in losses]
    return SweepResult(points=spec.points, seeds=list(spec.seeds), history=hist, net=None, **arrays)


def save_result(path: str | Path, spec: SweepSpec, result: SweepResult) -> Path:
    """Write a sweep's arrays and its spec to ``path`` (.npz), atomically."""
    arrays = {name: getattr(result, name).cpu().numpy() for name in ARRAYS}
    arrays["history_step"] = np.asarray(result.history.step)
    arrays["history_loss"] = torch.stack(result.history.loss).cpu().numpy()
    with atomic_open(path, "wb") as f:
        np.savez(f, spec=np.array(spec.to_json()), history_lr=np.array(result.history.lr), **arrays)
    return Path(path)


def load_result(path: str | Path) -> tuple[SweepSpec, SweepResult]:
    """Read what :func:`save_result` wrote."""
    with np.load(path, allow_pickle=False) as z:
        spec = SweepSpec.from_json(str(z["spec"]))
        hist = History(lr=float(z["history_lr"]))
        hist.step = z["history_step"].tolist()
        hist.loss = [torch.from_numpy(row) for row in z["history_loss"]]
        arrays = {name: torch.from_numpy(z[name]) for name in ARRAYS}
    return spec, SweepResult(points=spec.points, seeds=list(spec.seeds), history=hist, net=None, **arrays)


def replay_prefix(spec: SweepSpec, result: SweepResult, *, steps: int = 50, family: TaskFamily | None = None,
                  device="cpu", data_dir=None) -> float:
    """Re-train the first ``steps`` steps of ``spec`` with today's code and compare with ``result``'s loss history.

    Returns the largest absolute difference of the recorded losses at the steps both have (0 means today's
    code retraces the stored run bit for bit). The stored run must have recorded the loss at ``steps``.
    """
    if steps not in result.history.step:
        raise ValueError(f"the stored run recorded the loss at steps {result.history.step[:5]}...; "
                         f"steps={steps} is not among them")
    short = dataclasses.replace(spec, train={**spec.train, "steps": steps})
    again = run(short, family=family, device=device, data_dir=data_dir)
    stored = dict(zip(result.history.step, result.history.loss))
    diffs = [(L.double() - stored[s].double()).abs().max().item()
             for s, L in zip(again.history.step, again.history.loss) if s in stored and s < steps]
    return max(diffs)
