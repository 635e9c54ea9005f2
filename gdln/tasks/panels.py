"""The panels of Section 5 as the paper ran them: its protocol, its M, widths, seeds and grids (App. D, E).

Pure data (layer 3, beside the tasks it describes), shared by :mod:`gdln.book.scale`, which compares a
run with its panel, and :mod:`gdln.sweep.paper`, which builds the sweeps a GPU should run for it.
Sources (Saxe, Sodhani & Lewallen, ICML 2022):

- Table 1, common to every task distribution: batch 8 (per task), 1000 epochs, hidden layer 128,
  SGD with learning rate 1e-4 and momentum 0.9, gains 10, 1, 0.1, 0.01, 1e-3, 1e-4; App. E.1: "We ran
  all the experiments with 10 seeds".
- ``M``: 100 for MNIST permuted/permuted (Sec. 5 text and Fig. 7c; Fig. 8 ii; Fig. 10 i; Table 3);
  40 for CIFAR-10 (Fig. 7b, Fig. 8 i; Table 5) and for the other MNIST panels (Figs. 8 iii-iv, 9,
  10 ii-iii; Tables 2, 4). For rotated MNIST the list of data sets in App. D and every caption say 40
  while the heading of Table 4 says 100; the captions are followed.
- ``N_h``: 128 (Table 1), 1,024 for CIFAR-10 (Table 5). ``K``: Fig. 10 fixes ``K = 10``; the ``K``
  values of the other sweeps are not stated (only ``K/M`` on the axes).
- Gradient-flow time of SGD with momentum: ``lr x steps / (1 - momentum)``; the paper's 1000 epochs
  at batch 8 are 7,500 on MNIST and 6,250 on CIFAR-10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["PROTOCOL", "TRAINING_IMAGES", "Panel", "PANELS", "data_set", "flow_time", "paper_flow_time"]


#: The paper's training protocol, common to every task distribution (App. D, Table 1; seeds: App. E.1).
PROTOCOL: dict[str, Any] = {"batch": 8, "epochs": 1000, "n_h": 128, "lr": 1e-4, "momentum": 0.9,
                            "gains": (10.0, 1.0, 0.1, 0.01, 0.001, 0.0001), "seeds": 10}
#: Training images of each base data set: MNIST's training split (LeCun et al. 1998) and CIFAR-10's (Krizhevsky 2009).
TRAINING_IMAGES: dict[str, int] = {"mnist": 60_000, "cifar10": 50_000}


def data_set(family: str) -> str:
    """The base data set of a sweep family ("mnist-permuted" -> "mnist", "cifar-rotated" -> "cifar10")."""
    if family.startswith("mnist"):
        return "mnist"
    if family.startswith("cifar"):
        return "cifar10"
    raise ValueError(f"family={family!r} is invalid; expected a Section 5 family ('mnist-...' or 'cifar-...')")


@dataclass(frozen=True)
class Panel:
    """One panel of Section 5 as the paper ran it (see the module docstring for the sources).

    ``Ks`` and ``gains`` are the swept grid where the paper states it (Fig. 10), else None (not compared).
    """

    figure: str
    what: str
    family: str
    M: int
    nonlinearity: str = "linear"
    n_h: int = PROTOCOL["n_h"]
    seeds: int = PROTOCOL["seeds"]
    Ks: tuple[int, ...] | None = None
    gains: tuple[float, ...] | None = None

    @property
    def data(self) -> str:
        return data_set(self.family)

    @property
    def n_train(self) -> int:
        return TRAINING_IMAGES[self.data]

    @property
    def steps(self) -> int:
        """Table 1's 1000 epochs at batch 8 over the whole training set."""
        return PROTOCOL["epochs"] * self.n_train // PROTOCOL["batch"]

    @property
    def flow_time(self) -> float:
        return flow_time(PROTOCOL["lr"], self.steps, PROTOCOL["momentum"])


_GAIN_SWEEP = {"Ks": (10,), "gains": PROTOCOL["gains"]}  # Fig. 10: "K = 10", over Table 1's gains
#: The paper's panels of Section 5 and App. D, by figure.
PANELS: dict[str, Panel] = {p.figure: p for p in (
    Panel("Fig. 7b", "CIFAR-10 rotated/permuted, K sweep", "cifar-rotated", 40, n_h=1024),
    Panel("Fig. 7c", "MNIST permuted/permuted, K sweep", "mnist-permuted", 100),
    Panel("Fig. 8 i", "CIFAR-10 rotated/permuted, K sweep", "cifar-rotated", 40, n_h=1024),
    Panel("Fig. 8 ii", "MNIST permuted/permuted, K sweep", "mnist-permuted", 100),
    Panel("Fig. 8 iii", "MNIST permuted/permuted, K sweep", "mnist-permuted", 40),
    Panel("Fig. 8 iv", "MNIST rotated/permuted, K sweep", "mnist-rotated", 40),
    Panel("Fig. 9 i", "MNIST permuted/permuted, leaky-ReLU, K sweep", "mnist-permuted", 40, "leaky_relu"),
    Panel("Fig. 9 ii", "MNIST rotated/permuted, leaky-ReLU, K sweep", "mnist-rotated", 40, "leaky_relu"),
    Panel("Fig. 10 i", "MNIST permuted/permuted, gain sweep", "mnist-permuted", 100, **_GAIN_SWEEP),
    Panel("Fig. 10 ii", "MNIST permuted/permuted, gain sweep", "mnist-permuted", 40, **_GAIN_SWEEP),
    Panel("Fig. 10 iii", "MNIST rotated/permuted, gain sweep", "mnist-rotated", 40, **_GAIN_SWEEP),
)}


def flow_time(lr: float, steps: int, momentum: float) -> float:
    """The gradient-flow time of ``steps`` steps of SGD with step ``lr`` and momentum ``momentum``: ``lr x steps / (1 - momentum)``."""
    lr, momentum = float(lr), float(momentum)
    if not (math.isfinite(lr) and lr > 0) or not (0 <= momentum < 1) or isinstance(steps, bool) \
            or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"lr={lr!r}, steps={steps!r}, momentum={momentum!r} are invalid; expected lr > 0, "
                         "an integer steps >= 0 and 0 <= momentum < 1")
    return lr * steps / (1 - momentum)


def paper_flow_time(data: str) -> float:
    """The paper's gradient-flow time on base data set ``data`` ("mnist": 7,500; "cifar10": 6,250; see the module docstring)."""
    if data not in TRAINING_IMAGES:
        raise ValueError(f"data={data!r} is invalid; expected one of {tuple(TRAINING_IMAGES)}")
    steps = PROTOCOL["epochs"] * TRAINING_IMAGES[data] // PROTOCOL["batch"]
    return flow_time(PROTOCOL["lr"], steps, PROTOCOL["momentum"])
