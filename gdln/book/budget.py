"""The size of a chapter's run against the machine, estimated from its parameters before any work.

A chapter parameter that sets a size (``M`` domains, ``n_h`` hidden units, networks per sweep point, a
step that sets the number of steps) can ask for a run that needs more memory than the machine has, or
that runs for days, without a word until it is killed. :func:`check` estimates, from the parameters
alone, what the chapter's largest computations need:

- **memory**: the tensors that are held at once by its largest training run (weights, the gradient and
  the copy of the initial weights; the route outputs of one step; the recorded losses), in the dtype the
  chapter uses;
- **floating-point operations**: the matrix products of every training step of its batched runs.

Both are *lower bounds*: only terms that the chapter certainly computes are counted (smaller ones,
solver work and Python overhead are left out), so a refusal is never a guess. The limits are the
machine's own:

- memory: the physical memory of this machine (or the cgroup limit of this process, if lower) for a
  chapter computing on the CPU; the memory of the GPU for one computing on CUDA;
- time: the floating-point operations divided by this machine's peak rate, measured as the best of a
  few float32 matrix products of 1024 x 1024 (the chapters' small batched products reach a fraction of
  it, so the real run is slower than the estimate), against a time budget: ``--max-hours`` or
  ``$GDLN_MAX_HOURS`` (default :data:`DEFAULT_MAX_HOURS`). The rate is measured only when the run
  could exceed the budget even at 1 GFLOP/s.

A run over a limit is refused before any kernel starts, with the estimate, the limit, and, for the
parameter that drives it, the largest (or smallest) value within the limit with the other values given.
``--no-size-check`` runs it anyway. A chapter with no estimator here (:data:`ESTIMATORS`) is not checked.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MAX_HOURS", "Cost", "ESTIMATORS", "CPU_ONLY", "estimate", "memory_limit", "peak_rate", "check"]

#: The time budget of one chapter when neither ``--max-hours`` nor ``$GDLN_MAX_HOURS`` says otherwise: half a day.
#: Every chapter's full mode is estimated far below it on a 2-core CPU (the largest, race, at seconds of peak
#: rate); it is a budget, not a measurement, and meant to be changed.
DEFAULT_MAX_HOURS = 12.0
#: Bytes per number: the training runs of the routing, race and initialisation chapters use float32.
F32, F64 = 4, 8
#: Sizes of the routing task of Fig. 4 (gdln.tasks.routing.routing_task): item dimension, output features, items.
N_X, N_Y, N_ITEMS = 4, 7, 4


@dataclass(frozen=True)
class Cost:
    """A lower bound of what a run needs: ``memory`` (bytes held at once), ``flops``, and the largest term in words."""

    memory: float
    flops: float
    what: str

    def __add__(self, other: "Cost") -> "Cost":
        """Two computations one after the other: the larger memory, the sum of the work."""
        return Cost(max(self.memory, other.memory), self.flops + other.flops,
                    self.what if self.memory >= other.memory else other.what)


# ---------------------------------------------------------------- the engines

def routing_run(R: int, M: int, n_h: int, steps: int, record_every: int, *, what: str, nbytes: int = F32) -> Cost:
    """``gdln.engines.routing.train_routing`` of ``R`` networks (one pathway) for ``steps`` steps.

    Held at once: the weights, their gradient and the initial weights (``3 R (M N_h (N_x + N_y) + N_h^2)``),
    the route outputs, errors and weighted errors of one step (``3 R M^2 N_y n``) and the per-route losses
    recorded every ``record_every`` steps (``T R M^2``). Work per step: the forward products and the two
    backward products of each (``6 R n (M^2 N_y N_h + M N_h^2 + M N_h N_x)``).
    """
    T = steps // record_every + 2
    terms = {
        f"weights, gradient and initial weights of {R} networks of {M * n_h * (N_X + N_Y) + n_h * n_h:.3g} numbers":
            3 * R * (M * n_h * (N_X + N_Y) + n_h * n_h),
        f"route outputs of one step of {R} networks x M^2 = {M * M:.3g} routes": 3 * R * M * M * N_Y * N_ITEMS,
        f"per-route losses recorded at {T} times for {R} networks x M^2 = {M * M:.3g} routes": T * R * M * M,
    }
    largest = max(terms, key=terms.get)
    flops = 6.0 * R * N_ITEMS * (M * M * N_Y * n_h + M * n_h * n_h + M * n_h * N_X) * steps
    return Cost(nbytes * float(sum(terms.values())), flops, f"{what}: {largest}")


def relu_run(R: int, n_in: int, n_h: int, n_out: int, n: int, steps: int, *, what: str, nbytes: int = F32) -> Cost:
    """``R`` two-layer ReLU networks ``W2 relu(W1 x)`` trained by full-batch gradient descent on ``n`` examples.

    Held at once: weights, gradient, initial weights (``3 R N_h (n_in + n_out)``) and the hidden activity
    and its gradient (``2 R n N_h``). Work per step: ``6 R n N_h (n_in + n_out)``.
    """
    weights = 3 * R * n_h * (n_in + n_out)
    hidden = 2 * R * n * n_h
    largest = (f"weights of {R} networks of {n_h} hidden units" if weights >= hidden
               else f"hidden activity of {R} networks x {n_h} units x {n} examples")
    return Cost(nbytes * float(weights + hidden), 6.0 * R * n * n_h * (n_in + n_out) * steps, f"{what}: {largest}")


# ---------------------------------------------------------------- the chapters

def _routing(p: Mapping[str, Any]) -> Cost:
    quick = p["mode"] == "quick"
    M, n_h, lam, n_reps, sigma0 = p["M"], p["n_h"], p["lam"], p["n_reps"], p["sigma0"]
    t_max, lam_fine = (50.0, lam / 2) if quick else (100.0, lam / 4)
    rec = max(int(round(0.1 / lam)), 1)
    cost = routing_run(2 * n_reps, M, n_h, int(round(t_max / lam)), rec, what="the Fig. 4e training run")
    for step in (lam, lam_fine):  # the decoupled network trained with the step and a finer one
        cost = cost + routing_run(1, M, n_h, int(round(t_max / step)), max(int(round(0.1 / step)), 1),
                                  what="the decoupled network")
    reps = 3 if quick else n_reps
    for Mi in (4, 7, 10, 16):  # gdln.engines.alignment.prediction_sweep: sigma_0 / 2, sigma_0, 2 sigma_0; two readings
        steps = int(round(40.0 * (Mi / 7) * (0.2 / (sigma0 / 2)) / lam))
        cost = cost + routing_run(2 * 3 * reps, Mi, n_h, steps, rec, what=f"the sweep of the predicted start at M = {Mi}")
    return cost


def _race(p: Mapping[str, Any]) -> Cost:
    quick = p["mode"] == "quick"
    seeds = p["n_seeds"] or (4 if quick else 10)
    M = p["M"]
    # Fig. 5c (gdln.engines.race.k_sweep): two step sizes x K = 1..M x seeds in one run
    return routing_run(2 * M * seeds, M, p["n_h"], 1000 if quick else 2000, 25, what="the Fig. 5c sweep over K")


def _initialization(p: Mapping[str, Any]) -> Cost:
    quick = p["mode"] == "quick"
    seeds = p["n_seeds"] or (2 if quick else 10)
    # gdln.engines.race.sigma_sweep: two readings x ten sigma_0 x seeds in one run
    return routing_run(2 * 10 * seeds, p["M"], p["n_h"], 2000 if quick else 3000, 20,
                       what="the Fig. 6 sweep over sigma_0")


def _xor(p: Mapping[str, Any]) -> Cost:
    dt = 0.01 if p["mode"] == "quick" else 0.002
    return relu_run(p["n_relu"], 2, p["n_h"], 1, 4, int(round(100.0 / dt)), what="the ReLU networks of Fig. 3c")


def _practice(p: Mapping[str, Any]) -> Cost:
    R = p["n_seeds"] or (60 if p["mode"] == "quick" else 200)
    K, M = p["K"], p["M"]
    # the ReLU networks of the multi-view task (inputs of K M dimensions, K classes); steps are not counted
    return relu_run(R, K * M, p["n_h"], K, K * (2 ** M - 1), 0, what="the ReLU networks of the multi-view task")


#: Chapter -> its estimator (a function of the chapter's full parameter values).
ESTIMATORS: dict[str, Callable[[Mapping[str, Any]], Cost]] = {
    "routing": _routing, "race": _race, "initialization": _initialization, "xor": _xor, "practice": _practice}
#: Chapters that compute on the CPU whatever ``device`` says (their ``Chapter(..., cpu=...)``).
CPU_ONLY = frozenset({"practice", "dln", "framework", "reduction"})


def estimate(chapter: str, params: Mapping[str, Any]) -> Cost | None:
    """The :class:`Cost` of chapter ``chapter`` with ``params`` (all of them, defaults included), or None."""
    f = ESTIMATORS.get(chapter)
    return None if f is None else f(params)


# ---------------------------------------------------------------- the machine

def _device(chapter: str, device: str):
    import torch

    if chapter in CPU_ONLY or device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda" if device == "auto" else device)


def memory_limit(device) -> tuple[float, str]:
    """``(bytes, in words)``: the memory a run on ``device`` can have (see the module docstring)."""
    if device.type == "cuda":
        import torch

        props = torch.cuda.get_device_properties(device.index or 0)
        return float(props.total_memory), f"the memory of {props.name} ({device})"
    total = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    what = "this machine's physical memory"
    try:
        text = open("/sys/fs/cgroup/memory.max", encoding="ascii").read().strip()
        if text.isdigit() and float(text) < total:
            total, what = float(text), "this process's cgroup memory limit"
    except OSError:
        pass
    return total, what


_RATES: dict[str, float] = {}


def peak_rate(device) -> float:
    """Floating-point operations per second of this machine on ``device``: the best of five float32 matrix
    products of 1024 x 1024 (measured once per process)."""
    key = str(device)
    if key not in _RATES:
        import torch

        n = 1024
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        best = math.inf
        for _ in range(5):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            (a @ b).sum().item()
            best = min(best, time.perf_counter() - started)
        _RATES[key] = 2.0 * n ** 3 / best
    return _RATES[key]


def _bytes(x: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if x >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x / 1e3:.3g} kB"


def _hours(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} days"
    return f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds / 60:.3g} min"


# ---------------------------------------------------------------- the check

def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _within(chapter: str, params: Mapping[str, Any], key: str, default: Any, fits: Callable[[Cost], bool]) -> Any:
    """The value of ``key`` nearest to ``params[key]``, between it and ``default``, whose run fits; None if none."""
    def ok(v):
        return fits(estimate(chapter, {**params, key: v}))

    lo, hi = default, params[key]
    if not ok(lo):
        return None
    if isinstance(hi, int) and isinstance(lo, int):
        while abs(hi - lo) > 1:  # lo fits, hi does not
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return lo
    if not (lo > 0 and hi > 0):
        return None
    for _ in range(60):  # geometric bisection to ~3 significant digits
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        if abs(math.log(hi / lo)) < 1e-4:
            break
    return float(f"{lo:.3g}") if ok(float(f"{lo:.3g}")) else lo


def check(chapter: str, params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, *,
          max_hours: float | None = None) -> Cost | None:
    """Raise ``ValueError`` when chapter ``chapter`` with ``params`` would need more memory than the machine has
    or more time than ``max_hours`` (default ``$GDLN_MAX_HOURS`` or :data:`DEFAULT_MAX_HOURS`); return its cost.

    ``params``: every parameter's value (defaults included); ``defaults``: the chapter's declared defaults,
    to name the parameter that makes the run large and the largest value of it that fits.
    """
    cost = estimate(chapter, params)
    if cost is None:
        return None
    if max_hours is None:
        text = os.environ.get("GDLN_MAX_HOURS")
        try:
            max_hours = float(text) if text else DEFAULT_MAX_HOURS
        except ValueError:
            raise ValueError(f"GDLN_MAX_HOURS={text!r} is invalid; expected a positive number of hours") from None
    if not (math.isfinite(max_hours) and max_hours > 0):
        raise ValueError(f"max_hours={max_hours!r} is invalid; expected a positive number of hours")
    device = _device(chapter, str(params.get("device", "auto")))
    memory, memory_what = memory_limit(device)
    budget = 3600.0 * max_hours

    def rate() -> float:
        return peak_rate(device)

    def fits_memory(c: Cost) -> bool:
        return c.memory <= memory

    def fits_time(c: Cost) -> bool:  # cheap when the work is small: no measurement below 1 GFLOP/s x budget
        return c.flops <= 1e9 * budget or c.flops / rate() <= budget

    if fits_memory(cost) and fits_time(cost):
        return cost
    if not fits_memory(cost):
        problem = (f"it needs at least {_bytes(cost.memory)} of memory ({cost.what}), more than "
                   f"{_bytes(memory)}, {memory_what}")
        fits = fits_memory
    else:
        problem = (f"it needs at least {cost.flops:.2g} floating-point operations, {_hours(cost.flops / rate())} at "
                   f"this machine's peak rate of {rate() / 1e9:.3g} GFLOP/s on {device} (measured on float32 matrix "
                   f"products; the run itself is slower), more than the limit of {_hours(budget)} "
                   f"(--max-hours, $GDLN_MAX_HOURS)")
        fits = fits_time
    given = {k: v for k, v in params.items() if defaults and k in defaults and _numeric(v) and _numeric(defaults[k])
             and v != defaults[k]}
    hint = ""
    best = None
    for key, value in given.items():  # the parameter whose default value shrinks the run the most
        shrunk = estimate(chapter, {**params, key: defaults[key]})
        gain = (cost.memory / max(shrunk.memory, 1.0)) if fits is fits_memory else (cost.flops / max(shrunk.flops, 1.0))
        if gain > 1 and (best is None or gain > best[1]):
            best = (key, gain)
    if best is not None:
        key = best[0]
        bound = _within(chapter, params, key, defaults[key], lambda c: fits_memory(c) and fits_time(c))
        side = "at most" if params[key] > defaults[key] else "at least"
        if bound is not None:
            hint = f"; with the other values given, {side} {key}={bound!r} fits"
    named = ", ".join(f"{k}={v!r}" for k, v in given.items()) or "its default parameters"
    raise ValueError(f"chapter {chapter!r} with {named} is too large for this machine: {problem}{hint}. "
                     "Ask for less, or pass --no-size-check to run it anyway")
