"""Training time against depth and initialisation (the talk's "training speed" slides; Saxe et al. 2014).

Conventions (the talk does not spell them out; these are ours, and the exponents below follow from them):

- depth ``D`` is the number of weight layers, ``W = W_D ... W_1``; inputs are whitened;
- ``b0`` is the initial scale of each layer: its singular values (orthogonal layers) or ``b0 / sqrt(N)`` as the
  standard deviation of its entries (Gaussian layers, singular values of order ``b0``);
- a depth-``D`` network learns with the step ``lambda / D``, i.e. in the time unit ``tau_D = D tau``
  (:func:`time_unit`). Near the solution the largest curvature of the loss grows like ``D`` (the gradient of
  ``a = prod w_k`` has ``D`` components of size ``s^(1 - 1/D)``), so this is the largest stable step up to a
  depth-independent factor; with a fixed step the deepest networks would diverge;
- the learning time ``T_D`` is the first time the strength ``a = u^T W v`` of the target mode reaches ``s/2``.

With these, a balanced chain aligned with its mode obeys ``tau da/dt = a^(2 - 2/D) (s - a)`` (the chain of
:mod:`gdln.theory.dln` in the time unit ``tau_D``), and :func:`chain_learning_time` is its exact learning time.

Three initialisations, three laws:

- **small random weights**: while every layer is small, the flow is homogeneous of degree ``D - 1`` in the
  weights, so scaling every layer by ``c`` maps solutions to solutions with time scaled by ``c^-(D - 2)``.
  Hence ``T_D - T_1 ~ b0^-(D - 2)`` as ``b0 -> 0``, for any random directions; for an aligned balanced chain the
  leading term is ``tau D / ((D - 2) s b0^(D - 2))`` (:func:`small_init_time`). The exponent is ``D - 2``
  (:func:`small_init_exponent`); the talk writes ``1/(s b0^D)``, the same exponential growth with depth,
  whose exponent differs from ours by 2 at every depth.
- **orthogonal layers whose product is aligned** (``b0 = 1``): every mode starts at ``a0 = 1`` and
  ``T_D = tau int_1^(s/2) da / (a^(2 - 2/D) (s - a))`` tends to a finite limit as ``D -> infinity``:
  depth-independent, exponent 0 (the talk's ``O(1)``).
- **greedy layer-wise pretraining** (:func:`pretrain_and_finetune`): ``D - 1`` two-layer autoencoder stages,
  each of a duration independent of ``D`` (``~ tau ln(1/b0)``: a two-layer network from strength ``b0^2``),
  then supervised fine-tuning of the whole network in the time unit ``D tau``: ``T_D ~ D``, exponent 1 (the
  talk's "scales linearly"). The dependence on ``b0`` we derive is logarithmic, not the talk's ``1/b0^2``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad

from gdln.core.integrate import ode_first_crossing
from gdln.theory.dln import _depth, _positive
from gdln.theory.modes import flow_field

__all__ = ["time_unit", "chain_learning_time", "small_init_time", "small_init_exponent", "gaussian_layers",
           "aligned_orthogonal_layers", "network_learning_time", "pretrain_and_finetune", "loglog_slope"]


def time_unit(D: int, tau: float = 1.0) -> float:
    """``tau_D = D tau``: the time unit of a depth-``D`` network trained with the step ``lambda / D``."""
    _positive(tau=tau)
    return _depth(D) * tau


def chain_learning_time(D, s: float, a0: float, tau: float = 1.0, frac: float = 0.5) -> float:
    """Exact time for ``tau da/dt = a^(2 - 2/D) (s - a)`` to go from ``a0`` to ``frac * s``.

    ``D = math.inf`` gives the limit ``a^2`` (the equation of the talk's Lambert-W formula). Computed by
    quadrature in ``log a`` (relative accuracy ~1e-10).
    """
    if D != math.inf:
        _depth(D)
    _positive(s=s, a0=a0, tau=tau, frac=frac)
    if not (a0 < frac * s and frac < 1):
        raise ValueError(f"a0={a0!r} and frac={frac!r} are invalid; expected a0 < frac * s = {frac * s!r} and frac < 1")
    p = 2.0 if D == math.inf else 2.0 - 2.0 / D

    def integrand(x):  # a = e^x, da = a dx
        a = math.exp(x)
        return a ** (1.0 - p) / (s - a)

    val, _ = quad(integrand, math.log(a0), math.log(frac * s), epsabs=0.0, epsrel=1e-11, limit=500)
    return tau * val


def small_init_time(D: int, s: float, b0: float, tau: float = 1.0) -> float:
    """Leading term of the learning time of an aligned balanced chain from layer scale ``b0`` (``D >= 3``):
    ``tau D / ((D - 2) s b0^(D - 2))`` (step ``lambda / D``)."""
    D = _depth(D)
    if D < 3:
        raise ValueError(f"D={D} is invalid; the power law holds for D >= 3 (D = 1, 2 learn in a time ~ log(1/b0))")
    _positive(s=s, b0=b0, tau=tau)
    return tau * D / ((D - 2) * s * b0 ** (D - 2))


def small_init_exponent(D: int) -> int:
    """The derived exponent ``D - 2`` of ``T_D - T_1 ~ b0^-(D - 2)`` (small random weights, ``D >= 1``: 0 below 3)."""
    return max(_depth(D) - 2, 0)


def gaussian_layers(D: int, N: int, b0: float, *, seed: int = 0) -> list[np.ndarray]:
    """``D`` square layers of width ``N`` with i.i.d. entries of standard deviation ``b0 / sqrt(N)``."""
    D = _depth(D)
    _positive(b0=b0)
    rng = np.random.default_rng(seed)
    return [b0 * rng.standard_normal((N, N)) / math.sqrt(N) for _ in range(D)]


def aligned_orthogonal_layers(D: int, N: int, *, seed: int = 0) -> list[np.ndarray]:
    """``D`` random orthogonal ``N x N`` layers whose product is the identity (every mode starts at ``a0 = 1``)."""
    D = _depth(D)
    rng = np.random.default_rng(seed)
    Qs = [np.linalg.qr(rng.standard_normal((N, N)))[0] for _ in range(D - 1)]
    P = np.eye(N)
    for Q in Qs:
        P = Q @ P
    return [*Qs, P.T]


def network_learning_time(Ws0: list[np.ndarray], Syx: np.ndarray, u: np.ndarray, v: np.ndarray, *,
                          tau: float = 1.0, frac: float = 0.5, t_max: float = 1e9, rtol: float = 1e-9,
                          atol: float = 1e-12) -> float:
    """First time the mode strength ``u^T W v`` of the full-matrix flow reaches ``frac * u^T Sigma^yx v``.

    The network learns with the step ``lambda / D`` (time unit ``D tau``, :func:`time_unit`).
    """
    f, y0, unpack = flow_field(Ws0, Syx, time_unit(len(Ws0), tau))
    target = frac * float(u @ Syx @ v)

    def strength(y):
        W = np.eye(Ws0[0].shape[1])
        for Wk in unpack(y):
            W = Wk @ W
        return float(u @ W @ v) - target

    return ode_first_crossing(f, y0, strength, t_max=t_max, solver="DOP853", rtol=rtol, atol=atol,
                              what=f"the depth-{len(Ws0)} network's mode")[0]


def pretrain_and_finetune(D: int, N: int, b0: float, Syx: np.ndarray, u: np.ndarray, v: np.ndarray, *,
                          tau: float = 1.0, eps: float = 1e-8, seed: int = 0) -> tuple[float, float]:
    """Greedy layer-wise pretraining of ``W_1 ... W_(D-1)``, then supervised fine-tuning; ``(T_pretrain, T_finetune)``.

    Stage ``k`` trains a two-layer autoencoder (encoder ``W_k``, a decoder; both Gaussian of scale ``b0``) to
    reconstruct the representation ``h = W_(k-1) ... W_1 x`` (correlation ``Sigma^h``), in the time unit
    ``2 tau``, until its reconstruction error is ``eps`` of ``tr Sigma^h``. Then ``W_D`` (Gaussian, scale
    ``b0``) is added and the whole network learns ``Sigma^yx`` in the time unit ``D tau`` until the target
    mode reaches half its strength (:func:`network_learning_time`).
    """
    D = _depth(D)
    if D < 2:
        raise ValueError(f"D={D} is invalid; pretraining needs at least one hidden layer (D >= 2)")
    _positive(b0=b0, tau=tau, eps=eps)
    rng = np.random.default_rng(seed)
    layers: list[np.ndarray] = []
    P, t_pre = np.eye(N), 0.0
    for _ in range(D - 1):
        Sh = P @ P.T
        enc, dec = (b0 * rng.standard_normal((N, N)) / math.sqrt(N) for _ in range(2))
        f, y0, unpack = flow_field([enc, dec], Sh, time_unit(2, tau), Sxx=Sh)
        scale = float(np.trace(Sh))

        def level(y, Sh=Sh, unpack=unpack, scale=scale):
            e, d = unpack(y)
            R = np.eye(N) - d @ e
            return eps - float(np.trace(R @ Sh @ R.T)) / scale

        t_stage, y_end = ode_first_crossing(f, y0, level, t_max=1e9, solver="DOP853", rtol=1e-9, atol=1e-12,
                                            what="an autoencoder stage")
        t_pre += t_stage
        enc = unpack(y_end)[0]
        layers.append(enc)
        P = enc @ P
    layers.append(b0 * rng.standard_normal((Syx.shape[0], N)) / math.sqrt(N))
    return t_pre, network_learning_time(layers, Syx, u, v, tau=tau)


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the measured exponent of a power law)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"x={x.tolist()!r}, y={y.tolist()!r} are invalid; expected two positive arrays of one length >= 2")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
