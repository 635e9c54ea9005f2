"""The scale of a run, read from its record, and how it compares with the paper's run of the same panel.

A claim is judged on a run. This module says how large that run was, from the run's own record and
never from typed prose, and compares it with the run that Saxe, Sodhani & Lewallen (ICML 2022) report
for the same panel of Section 5, so that a page calls a run "the paper's scale" only when it is.

**The scale of a run.** :func:`of_sweep` reads a Section 5 sweep: from its record in the sweep archive
(``results/sweeps/<name>.json``, fields ``spec`` and ``machine``), or, for a sweep the page trained
itself, from its spec and the device it ran on. It keeps ``M``, ``N_h``, the number of seeds, the ``K``
values and gains, steps, batch, step size, momentum, the gradient-flow time (below), the training images
and the device, plus the panel of the paper the claim is compared with. :func:`of_run` reads a chapter
run that names no sweep, from its runner record (``results/<chapter>/manifest.json``: its parameters and
machine). Both return plain dicts (a claim stores one in its ``scale`` field,
:class:`~gdln.book.claims.Claim`); :func:`phrase` says one in a line, :func:`against_paper` compares
it with the paper.

**The paper's scale** (:data:`PANELS`, :data:`PROTOCOL`), from App. D and E of the paper:

- Table 1, common to every task distribution: batch 8 (per task), 1000 epochs, hidden layer 128,
  SGD with learning rate 1e-4 and momentum 0.9, gains 10, 1, 0.1, 0.01, 1e-3, 1e-4; App. E.1: "We ran
  all the experiments with 10 seeds".
- ``M``: 100 for MNIST permuted/permuted with ``M^2 = 10^4`` tasks (Sec. 5 text and Fig. 7c; Fig. 8 ii;
  Fig. 10 i; Table 3); 40 for CIFAR-10 (Fig. 7b, Fig. 8 i, ``M^2 = 1600``; Table 5) and for MNIST
  permuted/permuted (Fig. 8 iii; Fig. 9 i; Fig. 10 ii; Table 2) and rotated/permuted (Fig. 8 iv; Fig.
  9 ii; Fig. 10 iii). For rotated MNIST the list of data sets in App. D and every caption say 40
  (``M^2 = 1600``) while the heading of Table 4 says 100; the captions are followed here.
- ``N_h``: 128 (Table 1), 1,024 for CIFAR-10 (Table 5).
- ``K``: Fig. 10 fixes ``K = 10`` and sweeps the six gains of Table 1. The ``K`` values of the ``K``
  sweeps (Figs. 7b-c, 8, 9) are not stated, only the fraction ``K/M`` on the figures' axes, so they
  are not compared; nor is the single gain of those sweeps, which the paper does not state either.
- Training images: all of the base data set's training split, 60,000 for MNIST (LeCun et al. 1998)
  and 50,000 for CIFAR-10 (Krizhevsky 2009), at full resolution.

**Gradient-flow time.** SGD with step ``lr`` and momentum ``mu`` moves ``lr / (1 - mu)`` along the
gradient per step once its momentum has built up, so a run of ``steps`` steps follows the gradient
flow for a time ``lr x steps / (1 - mu)``. The paper's 1000 epochs at batch 8 are ``1000 x 60,000 / 8
= 7.5`` million steps on MNIST and 6.25 million on CIFAR-10, so its time is ``1e-4 x 7.5e6 / 0.1 =
7,500`` (MNIST) and 6,250 (CIFAR-10) (:func:`paper_flow_time`). A run's training time is said as a
fraction of that; it is reported beside the comparison, not part of it.

**The comparison.** :func:`against_paper` says "the paper's scale" only when ``M``, ``N_h``, the number
of seeds, the swept grid (the ``K`` values and gains of a Fig. 10 panel) and the training images all
match the panel's; otherwise it names each difference ("M = 10 of the paper's 40; 3 of 10 seeds").
This module is the one place that writes those words (``tests/test_scale.py`` keeps them out of every
other page, docstring and README line).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gdln.tasks.panels import PANELS, PROTOCOL, TRAINING_IMAGES, Panel, data_set, flow_time, paper_flow_time

__all__ = ["PROTOCOL", "TRAINING_IMAGES", "PAPER_SCALE", "Panel", "PANELS", "KINDS", "flow_time", "paper_flow_time",
           "of_sweep", "of_run", "on_panel", "check", "phrase", "differences", "against_paper", "describe"]

#: The words this module alone may write of a run: only :func:`against_paper` does, and only when they are true.
PAPER_SCALE = "the paper's scale"
#: What a scale dict describes: a sweep (:func:`of_sweep`) or a chapter run that names no sweep (:func:`of_run`).
KINDS = ("sweep", "run")


def _device(machine: Mapping[str, Any] | None, device: Any) -> str:
    """Where a run ran, in words: its record's machine (GPU name, or CPU and cores), else the device it was given."""
    if machine:
        return machine.get("gpu") or (f"CPU ({machine['cpu_count']} cores)" if machine.get("cpu_count") else "CPU")
    if device is None:
        return "device not recorded"
    text = str(device)
    return "CPU" if text == "cpu" else f"device {text}"


def _spec_dict(spec: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return dataclasses.asdict(spec)
    if isinstance(spec, Mapping):
        return dict(spec)
    raise TypeError(f"expected a sweep record, a sweep spec or its dict, got {type(spec).__name__}")


def of_sweep(source: Any, *, device: Any = None, name: str | None = None, panel: str | None = None) -> dict[str, Any]:
    """The scale of one Section 5 sweep, as a dict (JSON-ready), read from its record or spec.

    ``source`` is a sweep archive record (a mapping with ``spec``, and ``machine`` for the device) or a
    sweep spec (a :class:`gdln.sweep.SweepSpec` or its dict) of a sweep trained now on ``device``.
    ``name`` is the archive entry (None: trained by the run that records the claim); ``panel`` is the
    paper's panel it is compared with (a key of :data:`PANELS`, or None: no panel of the paper).
    """
    record = source if isinstance(source, Mapping) and "spec" in source else None
    spec = _spec_dict(record["spec"] if record is not None else source)
    missing = [k for k in ("family", "M", "Ks", "gains", "seeds", "n_h", "n_train", "train") if k not in spec]
    train = spec.get("train") or {}
    missing += [f"train.{k}" for k in ("steps", "batch_size", "lr", "momentum") if k not in train]
    if missing:
        raise ValueError(f"the sweep spec lacks {missing}; its scale is read from the spec, never assumed")
    Ks, gains = [int(k) for k in spec["Ks"]], [float(g) for g in spec["gains"]]
    per_point = isinstance(train["lr"], (list, tuple))
    lr = [float(x) for x in train["lr"]] if per_point else float(train["lr"])
    flows = [flow_time(x, int(train["steps"]), train["momentum"]) for x in (lr if per_point else [lr])]
    data_set(spec["family"])
    out = {
        "kind": "sweep", "family": spec["family"], "nonlinearity": spec.get("nonlinearity", "linear"),
        "M": int(spec["M"]), "n_h": int(spec["n_h"]), "seeds": len(spec["seeds"]), "Ks": Ks, "gains": gains,
        "steps": int(train["steps"]), "batch": train["batch_size"], "lr": lr, "momentum": float(train["momentum"]),
        "flow_time": flows[0] if len(set(flows)) == 1 else flows,
        "n_train": int(spec["n_train"]), "downsample": int(spec.get("downsample", 1)),
        "device": _device(record.get("machine") if record is not None else None, device),
        "sweep": name, "panel": None,
    }
    return on_panel(out, panel)


def of_run(record: Mapping[str, Any], machine: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The scale of a chapter run that names no sweep, from its runner record (parameters) and machine."""
    if not isinstance(record, Mapping) or not isinstance(record.get("parameters"), Mapping) \
            or "mode" not in record["parameters"]:
        raise ValueError("expected a runner record with 'parameters' holding at least 'mode' "
                         "(results/<chapter>/manifest.json: 'record')")
    p = dict(record["parameters"])
    return {"kind": "run", "chapter": record.get("chapter"), "mode": p.pop("mode"), "seed": p.pop("seed", None),
            "parameters": {k: v for k, v in p.items() if k != "device"},
            "device": _device(machine, p.get("device")), "panel": None}


def on_panel(scale: Mapping[str, Any], panel: str | None) -> dict[str, Any]:
    """``scale`` compared with the paper's ``panel`` (a key of :data:`PANELS`; None: with no panel)."""
    if panel is not None and panel not in PANELS:
        raise ValueError(f"panel={panel!r} is invalid; expected one of {list(PANELS)} or None")
    return check({**scale, "panel": panel})


def check(scale: Any) -> dict[str, Any]:
    """``scale`` as a dict, after checking that it is one this module wrote (a clear error otherwise)."""
    if not isinstance(scale, Mapping) or scale.get("kind") not in KINDS:
        raise ValueError(f"scale={scale!r} is invalid; expected a dict from gdln.book.scale.of_sweep or of_run")
    need = ("M", "n_h", "seeds", "Ks", "gains", "steps", "flow_time", "n_train", "device") if scale["kind"] == "sweep" \
        else ("mode", "parameters", "device")
    missing = [k for k in need if k not in scale]
    if missing:
        raise ValueError(f"scale lacks {missing}; expected a dict from gdln.book.scale.of_{scale['kind']}")
    if scale.get("panel") is not None and scale["panel"] not in PANELS:
        raise ValueError(f"scale names panel {scale['panel']!r}, which is not one of {list(PANELS)}")
    return dict(scale)


def _num(x: float) -> str:
    return f"{x:g}"


def _range(values: list, fmt=str) -> str:
    vals = sorted(set(values))
    return fmt(vals[0]) if len(vals) == 1 else f"{fmt(vals[0])} ... {fmt(vals[-1])} ({len(values)} values)"


def _time_ratio(scale: Mapping[str, Any]) -> str:
    """The run's gradient-flow time as a fraction of the paper's on the same base data set."""
    paper = paper_flow_time(data_set(scale["family"]))
    flows = scale["flow_time"] if isinstance(scale["flow_time"], list) else [scale["flow_time"]]
    lo, hi = min(flows) / paper, max(flows) / paper
    return f"{lo:.2g}x" if math.isclose(lo, hi) else f"{lo:.2g}x to {hi:.2g}x"


def phrase(scale: Mapping[str, Any]) -> str:
    """The scale in one line: "M = 10, N_h = 128, 3 seeds, ..., 0.4x the paper's training time; CPU (2 cores)"."""
    s = check(scale)
    if s["kind"] == "run":
        given = ", ".join(f"{k} = {v}" for k, v in s["parameters"].items())
        seed = f", seed {s['seed']}" if s.get("seed") is not None else ""
        return f"{s['mode']} mode{' (' + given + ')' if given else ''}{seed}; {s['device']}"
    seeds = f"{s['seeds']} seed{'s' if s['seeds'] != 1 else ''}"
    K = f"K = {_range(s['Ks'])}"
    gains = f"gain{'s' if len(set(s['gains'])) > 1 else ''} {_range(s['gains'], _num)}"
    images = f"{s['n_train']:,} training images" + (
        f" ({s['downsample']}x{s['downsample']}-pooled)" if s.get("downsample", 1) > 1 else "")
    batch = "full batch" if s.get("batch") is None else f"batch {s['batch']}"
    where = f"archived sweep {s['sweep']}" if s.get("sweep") else "trained by this run"
    return (f"M = {s['M']}, N_h = {s['n_h']}, {seeds}, {K}, {gains}, {images}, {s['steps']:,} steps at {batch}: "
            f"{_time_ratio(s)} the paper's training time; {s['device']}, {where}")


def differences(scale: Mapping[str, Any], panel: str | Panel | None = None) -> list[str]:
    """What differs between ``scale`` and the paper's ``panel`` (default: the scale's own), in words; [] if nothing.

    Compared (see the module docstring): ``M``, ``N_h``, the number of seeds, the ``K`` values and gains where the
    paper states them, the training images and their resolution.
    """
    s = check(scale)
    if s["kind"] != "sweep":
        raise ValueError("only the scale of a sweep can be compared with the paper's (this one is a chapter run)")
    p = panel if isinstance(panel, Panel) else PANELS[panel or s["panel"]] if (panel or s["panel"]) else None
    if p is None:
        raise ValueError("the scale names no panel of the paper to compare with; give panel=")
    out = []

    def count(name: str, run: int, paper: int, unit: str = "") -> None:
        if run < paper:
            out.append(f"{run:,} of {paper:,} {unit}" if unit else f"{name} = {run:,} of the paper's {paper:,}")
        elif run > paper:
            out.append(f"{run:,} {unit}, more than the paper's {paper:,}" if unit
                       else f"{name} = {run:,}, more than the paper's {paper:,}")

    count("M", s["M"], p.M)
    count("N_h", s["n_h"], p.n_h)
    count("seeds", s["seeds"], p.seeds, "seeds")
    if p.Ks is not None and sorted(set(s["Ks"])) != sorted(p.Ks):
        out.append(f"K = {_range(s['Ks'])} instead of the paper's K = {_range(list(p.Ks))}")
    if p.gains is not None and sorted(set(s["gains"])) != sorted(p.gains):
        out.append(f"gains {_range(s['gains'], _num)} instead of the paper's {_range(list(p.gains), _num)}")
    count("training images", s["n_train"], p.n_train, "training images")
    if s.get("downsample", 1) > 1:
        out.append(f"images {s['downsample']}x{s['downsample']}-pooled (the paper's: full resolution)")
    if s.get("nonlinearity", "linear") != p.nonlinearity:
        out.append(f"{s['nonlinearity']} units instead of the paper's {p.nonlinearity}")
    return out


def against_paper(scale: Mapping[str, Any]) -> str:
    """How ``scale`` compares with its panel: "Fig. 8 iii: the paper's scale", or "Fig. 8 iii: M = 10 of the paper's 40; ...".

    "" when the scale names no panel (a chapter run, or a sweep the paper has no panel for).
    """
    s = check(scale)
    if s["kind"] != "sweep" or not s.get("panel"):
        return ""
    diffs = differences(s)
    return f"{s['panel']}: " + ("; ".join(diffs) if diffs else PAPER_SCALE)


def describe(scale: Mapping[str, Any]) -> str:
    """:func:`phrase`, then :func:`against_paper` where there is a panel to compare with."""
    versus = against_paper(scale)
    return phrase(scale) + (f". Against {versus}" if versus else "")
