"""XoR and nonlinear contextual classification (Sec. 3, Fig. 3; App. A.1-A.2).

**XoR (App. A.1).** Four examples at the corners ``[+-1, +-1]``, target ``y = x_1 x_2`` (the sign
convention of App. A.1, where ``x = [1 1]`` has ``y = 1``). Examples are ordered around the square,
``x_k`` at angle ``45 - 90 k`` degrees, so neighbours are orthogonal and have opposite labels. The
GDLN of Fig. 3b has four pathways ``x -> h_k -> y``; the node gate of ``h_k`` is 1 on example ``k``
only. Each pathway sees ``Sigma^yx = 1/P y_k x_k^T`` (Eq. 18), ``s = sqrt(2)/P``, ``d = 2/P``, and its
effective singular value ``a(t)`` follows Eq. 21; the total loss is Eq. 23.

**ReLU networks from small weights (Fig. 3c) and the initial mode strength a_0.** For a ReLU network
``yhat = W2 relu(W1 x)`` (no biases), define the *pathway strength* ``a_k = y_k yhat_k / sqrt(2)``; then
the loss is exactly ``L = mean_k 1/2 (1 - sqrt(2) a_k)^2``, which is Eq. 23 when all ``a_k`` are equal.
While the weights are small (errors ``e = y``) each hidden unit evolves on its own by a piecewise
linear ODE. With ``c_j = w.x_j/sqrt(2)``, ``u`` the output weight and ``T = s t / tau``, a unit active on
the neighbours ``k, k+1`` obeys ``dc_k/dT = y_k u``, ``dc_{k+1}/dT = y_{k+1} u``,
``du/dT = y_k c_k + y_{k+1} c_{k+1}``: the mode ``z = y_k c_k + y_{k+1} c_{k+1}`` grows at rate ``sqrt(2)``
until one projection hits zero (time ``T*``); from then on the ReLU kink pins the unit to one
example (its cell type) and it is exactly a two-layer linear pathway whose growing mode
``m = (c_k + y_k u)/2`` grows as ``e^T``. The pathway strength therefore grows as
``a_k(T) -> a0_k e^{2T}`` with ``a0_k = sum_{units of type k} m_eff^2``, ``m_eff = m(T*) e^{-T*}`` -- a
closed-form function of each unit's initial weights (:func:`relu_effective_a0`). Averaging over
i.i.d. ``N(0, sigma_0^2)`` weights gives ``E[a0] = N_h kappa sigma_0^2 / 4`` with the pure number
``kappa = E[m_eff^2]/sigma_0^2 ~= 0.66`` (:func:`relu_kappa`), compared with ``1/2`` for a linear pathway
of ``N_h/4`` units whose weights start random (the phase before pinning grows faster).

**XoR with a margin (the talk's transition to nonlinearity).** A third input coordinate ``x_3 = Delta y``
makes the four examples linearly separable with margin exactly ``Delta`` (no tilted plane does better:
``sum_k y_k x_{12,k} = 0``), and the task is XoR again at ``Delta = 0`` (:func:`margin_xor_data`). A ReLU
unit active on one example ``k`` is a two-layer pathway with ``Sigma^yx = y_k x_k^T / P``, singular value
``|x_k| / P = sqrt(2 + Delta^2) / P``; a unit active on both examples of one class (for instance
``w = e_3``) sees ``Sigma^yx = (1/P) sum_class y_k x_k^T = +-(2 Delta / P) e_3^T``, singular value
``2 Delta / P``, and uses only the margin coordinate: a linear read-out of ``x_3`` through one gate per
class. From small weights the pathway with the larger singular value grows first (Eq. 21's rate is
``s``), so the race predicts per-example, nonlinear pathways below ``Delta* = sqrt(2/3)`` and class
pathways above it (:func:`margin_pathway_singular_values`, :func:`margin_race_threshold`). Initial
strengths ``a0 ~ c sigma_0^2`` that differ by a constant factor between the two kinds shift the crossing
of the learning times ``ln(1/a0)/s`` by a relative ``O(1/ln(1/sigma_0))``: the threshold is reached as
``sigma_0 -> 0``. :func:`nonlinear_share` measures which pathways carry a trained network's output.

**Contextual classification (App. A.2).** Inputs uniform in ``[-1, 1]^2``; in context ``c`` the target is
``x_c``. Every drawn input is shown once in each context, so contexts have probability exactly 1/2
and the least-squares limits of App. A.2 (``[1/2 1/2]`` for one pathway, ``[1 0]``, ``[0 1]`` for two
gated pathways) hold exactly for the sample, not only in expectation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from scipy.optimize import minimize_scalar
from scipy.stats import norm, qmc
from torch import Tensor

from gdln.core.graph import Graph
from gdln.core.network import GatedData, Weights
from gdln.theory.dln import dln_loss, dln_mode_trajectory

__all__ = ["XOR_P", "XOR_S", "XOR_D", "xor_data", "xor_graph", "xor_gated_data", "xor_decoupled_init",
    "xor_analytic_a", "xor_analytic_loss", "pathway_strengths", "relu_effective_a0", "relu_kappa",
    "expected_relu_a0", "relu_a0_samples", "fit_a0", "max_loss_sensitivity", "context_data",
    "context_dln_graph", "context_gdln_graph", "context_gated_data", "margin_xor_data",
    "margin_pathway_singular_values", "margin_race_threshold", "nonlinear_share", "transition_margin"]

XOR_P = 4
XOR_S = math.sqrt(2) / XOR_P   # nonlinear singular value of one pathway (App. A.1)
XOR_D = 2 / XOR_P              # its input variance d = v^T Sigma^x v


def _check_n_h(n_h) -> int:
    if isinstance(n_h, bool) or not isinstance(n_h, int) or n_h <= 0:
        raise ValueError(f"n_h must be a positive integer (neurons per hidden node), got {n_h!r}")
    return n_h


def xor_data(dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """The XoR examples ``x: (4, 2)`` (ordered around the square) and targets ``y = x_1 x_2: (4, 1)``."""
    x = torch.tensor([[1., 1.], [1., -1.], [-1., -1.], [-1., 1.]], dtype=dtype)
    return x, (x[:, 0] * x[:, 1])[:, None]


def xor_graph(n_h: int = 1) -> Graph:
    """The four-pathway GDLN of Fig. 3b: ``x (2) -> h_k (n_h) -> y (1)``, edges ``in_k``, ``out_k``."""
    _check_n_h(n_h)
    nodes = {"x": 2, **{f"h{k}": n_h for k in range(1, 5)}, "y": 1}
    edges = {}
    for k in range(1, 5):
        edges[f"in{k}"] = ("x", f"h{k}")
        edges[f"out{k}"] = (f"h{k}", "y")
    return Graph(nodes, edges)


def xor_gated_data(dtype: torch.dtype = torch.float64) -> GatedData:
    """XoR with the gating of Fig. 3b: node ``h_k`` is on for example ``k`` only."""
    x, y = xor_data(dtype)
    gates = {f"h{k + 1}": torch.eye(4, dtype=dtype)[k] for k in range(4)}
    return GatedData(x={"x": x}, y={"y": y}, node_gates=gates)


def xor_decoupled_init(a0: float, n_h: int = 1, *, dtype: torch.dtype = torch.float64) -> Weights:
    """Balanced decoupled initial weights (Eq. 9) with effective singular value ``a0`` per pathway.

    ``W_in_k = sqrt(a0) r v_k^T`` and ``W_out_k = y_k sqrt(a0) r^T`` with ``v_k = x_k/sqrt(2)`` and
    ``r = e_1`` in the hidden node, so that ``W_out_k W_in_k = a0 y_k v_k^T``.
    """
    _check_n_h(n_h)
    if isinstance(a0, bool) or not isinstance(a0, (int, float)) or not (0 < a0 < math.inf):
        raise ValueError(f"a0 must be a finite positive number, got {a0!r}")
    x, y = xor_data(dtype)
    r = torch.zeros(n_h, 1, dtype=dtype)
    r[0, 0] = 1.0
    b = math.sqrt(a0)
    W: Weights = {}
    for k in range(4):
        W[f"in{k + 1}"] = b * r @ (x[k:k + 1] / math.sqrt(2))
        W[f"out{k + 1}"] = y[k, 0] * b * r.T
    return W


def xor_analytic_a(t: Tensor, a0: float | Tensor, tau: float) -> Tensor:
    """Eq. 21: ``a(t) = (s/d) / (1 - (1 - s/(d a0)) exp(-2 s t / tau))`` with ``s = sqrt(2)/4``, ``d = 1/2``
    (``t`` and a tensor ``a0`` broadcast)."""
    if not (bool(torch.all(torch.as_tensor(a0) > 0)) and tau > 0):
        raise ValueError(f"a0 and tau must be positive, got a0={a0!r}, tau={tau!r}")
    return dln_mode_trajectory(XOR_S, XOR_D, a0, tau, torch.as_tensor(t, dtype=torch.float64))


def xor_analytic_loss(t: Tensor, a0: float | Tensor, tau: float) -> Tensor:
    """Eqs. 22-23: ``L(t) = 1/2 - P s a + P d a^2 / 2 = 1/2 - sqrt(2) a + a^2``. With a tensor of
    per-pathway ``a0_k`` this is the loss ``1/2 (1 - sqrt(2) a_k)^2`` each pathway would give if all four
    pathways had its ``a0_k``; averaging over ``k`` gives the network's loss."""
    return dln_loss(xor_analytic_a(t, a0, tau), XOR_S, XOR_D, sigma_y=1 / XOR_P, n_paths=XOR_P)


def pathway_strengths(outputs: Tensor, y: Tensor | None = None) -> Tensor:
    """``a_k = y_k yhat_k / sqrt(2)`` for network outputs ``(..., 4, 1)`` on the XoR examples -> ``(..., 4)``.

    The loss is exactly ``mean_k 1/2 (1 - sqrt(2) a_k)^2`` (Eq. 23 when all ``a_k`` agree).
    """
    if y is None:
        y = xor_data(outputs.dtype)[1]
    if outputs.shape[-2:] != (4, 1):
        raise ValueError(f"outputs must have shape (..., 4, 1) (the four XoR examples), got {tuple(outputs.shape)}")
    return (y[:, 0] * outputs[..., 0]) / math.sqrt(2)


def _unit_mode(c1: Tensor, c2: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Linear early dynamics of one ReLU unit active on two neighbours ``k`` (label ``+1`` after the
    sign change ``u -> y_k u``) and ``k+1`` (label ``-1``), with projections ``c1, c2 > 0``.

    Returns ``(m_eff, second)``: the growing-mode amplitude extrapolated back to ``T = 0`` and whether
    the unit ends pinned to example ``k+1`` (else ``k``). Closed form: ``z = c1 - c2`` and ``u`` solve
    ``dz/dT = 2u, du/dT = z``, so ``z = A e^{sqrt2 T} + B e^{-sqrt2 T}`` with ``A, B = (z0 +- sqrt2 u0)/2``;
    ``w = c1 + c2`` is conserved; the unit pins when ``|z| = w`` at ``E = e^{sqrt2 T*}`` the larger root
    of ``A E^2 - w E + B = 0``; then ``m = (w + u*)/2`` grows as ``e^{T - T*}``.
    """
    z0, w = c1 - c2, c1 + c2
    A = (z0 + math.sqrt(2) * u) / 2
    B = (z0 - math.sqrt(2) * u) / 2
    second = A < 0                        # mirror symmetry: (c1, c2, u) -> (c2, c1, -u) flips A, B
    sgn = torch.where(second, -1.0, 1.0).to(A.dtype)
    A, B = A * sgn, B * sgn
    A = A.clamp_min(torch.finfo(A.dtype).tiny)
    E = (w + torch.sqrt((w * w - 4 * A * B).clamp_min(0))) / (2 * A)
    u_star = (A * E - B / E) / math.sqrt(2)
    m_eff = (w + u_star) / 2 * E ** (-1 / math.sqrt(2))
    return m_eff, second


def relu_effective_a0(W1: Tensor, W2: Tensor) -> Tensor:
    """Predicted initial pathway strengths ``a0_k`` (``(..., 4)``) of a ReLU network on XoR from its
    own small initial weights ``W1: (..., N_h, 2)``, ``W2: (..., 1, N_h)`` (see the module docstring).

    Valid when the weights are small enough that the errors stay ``~ y`` until every unit is pinned;
    then ``a_k(t) ~ a0_k exp(2 s t / tau)`` until the loss starts to drop.
    """
    if W1.shape[-1] != 2 or W2.shape[-2] != 1 or W2.shape[-1] != W1.shape[-2]:
        raise ValueError(f"expected W1 (..., N_h, 2) and W2 (..., 1, N_h), got {tuple(W1.shape)}, {tuple(W2.shape)}")
    x, y = xor_data(W1.dtype)
    v = x / math.sqrt(2)
    c = W1 @ v.T                                            # (..., N_h, 4) projections c_j
    u = W2[..., 0, :]                                       # (..., N_h)
    active = c > 0
    pair = active & active.roll(-1, dims=-1)                # active on j and j+1
    k = pair.to(torch.int8).argmax(dim=-1)                  # the unit's sector (generic units: exactly one)
    ck = c.gather(-1, k[..., None].long())[..., 0]
    ck1 = c.gather(-1, ((k + 1) % 4)[..., None].long())[..., 0]
    yk = y[:, 0][k.long()]
    m, second = _unit_mode(ck, ck1, u * yk)
    path = (k.long() + second.long()) % 4
    return torch.stack([(m ** 2 * (path == j)).sum(-1) for j in range(4)], dim=-1)


@lru_cache(maxsize=None)
def relu_kappa(n_points: int = 2 ** 20) -> float:
    """``kappa = E[m_eff^2] / sigma_0^2`` for one unit with i.i.d. ``N(0, sigma_0^2)`` weights.

    A pure number (the early dynamics is linear, so ``m_eff`` is homogeneous of degree 1 in the
    weights), computed by scrambled-Sobol quasi-Monte Carlo over the unit's three relevant weights
    (seeded; its integration error is ~1e-4). By symmetry we may take the unit in the sector of
    examples 1-2: ``c_1, c_2 ~ |N(0, 1)|``, ``u ~ N(0, 1)``.
    """
    pts = qmc.Sobol(3, scramble=True, seed=0).random(n_points)
    z = torch.as_tensor(norm.ppf(0.5 + 0.5 * pts[:, :2]), dtype=torch.float64)   # half-normal
    u = torch.as_tensor(norm.ppf(pts[:, 2]), dtype=torch.float64)
    m, _ = _unit_mode(z[:, 0], z[:, 1], u)
    return float((m ** 2).mean())


def expected_relu_a0(n_h: int, sigma0: float) -> float:
    """``E[a0_k] = N_h kappa sigma_0^2 / 4``: the expected initial pathway strength of Fig. 3c's ReLU
    networks (each unit ends in one of four pathways with probability 1/4)."""
    _check_n_h(n_h)
    if not (sigma0 > 0):
        raise ValueError(f"sigma0 must be positive, got {sigma0!r}")
    return n_h * relu_kappa() * sigma0 ** 2 / 4


def relu_a0_samples(n_h: int, n_networks: int, *, generator: torch.Generator) -> Tensor:
    """Per-pathway ``a0_k / sigma_0^2`` for ``n_networks`` random networks (``(n_networks, 4)``): the
    finite-``N_h`` spread that the theory predicts (drawn from the initial distribution only; no
    training)."""
    _check_n_h(n_h)
    W1 = torch.randn(n_networks, n_h, 2, generator=generator, dtype=torch.float64)
    W2 = torch.randn(n_networks, 1, n_h, generator=generator, dtype=torch.float64)
    return relu_effective_a0(W1, W2)


def fit_a0(t: Tensor, loss: Tensor, tau: float, a0_guess: float) -> float:
    """The ``a0`` whose Eq. 23 curve is closest to ``loss(t)`` in least squares (a fit, for comparison
    with the derived value; searched over ``ln a0`` within a factor 100 of ``a0_guess``)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    loss = torch.as_tensor(loss, dtype=torch.float64)
    if t.shape != loss.shape:
        raise ValueError(f"t and loss must have the same shape, got {tuple(t.shape)} and {tuple(loss.shape)}")

    def sse(ln_a0: float) -> float:
        return float(((xor_analytic_loss(t, math.exp(ln_a0), tau) - loss) ** 2).sum())

    g = math.log(a0_guess)
    res = minimize_scalar(sse, bounds=(g - math.log(100), g + math.log(100)), method="bounded",
                          options={"xatol": 1e-8})
    return math.exp(res.x)


def max_loss_sensitivity() -> float:
    """``max_t |dL/d ln a0| = 4/27`` for Eq. 23 with small ``a0``: there ``a0`` only shifts time,
    ``L = (1 - q)^2/2`` with ``q = sqrt(2) a`` logistic, and ``|dL/d ln a0| = q (1 - q)^2 <= 4/27`` (at q = 1/3)."""
    return 4 / 27


# ---------------------------------------------------------------- XoR with a margin (the talk)

def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
        raise ValueError(f"delta={delta!r} is invalid; expected a finite margin >= 0")
    return float(delta)


def margin_xor_data(delta: float, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """XoR lifted by ``x_3 = Delta y``: ``x`` (4, 3), ``y`` (4, 1). Linearly separable with margin ``Delta``
    for every ``Delta > 0``; XoR (with a silent third input) at ``Delta = 0``."""
    delta = _check_delta(delta)
    x, y = xor_data(dtype)
    return torch.cat([x, delta * y], dim=1), y


def margin_pathway_singular_values(delta: float) -> tuple[float, float]:
    """``(s_example, s_class) = (sqrt(2 + Delta^2) / P, 2 Delta / P)``: the singular values of a ReLU pathway
    gated on one example and of one gated on both examples of a class (Eq. 18's effective data set)."""
    delta = _check_delta(delta)
    return math.sqrt(2 + delta ** 2) / XOR_P, 2 * delta / XOR_P


def margin_race_threshold() -> float:
    """``Delta* = sqrt(2/3)``, where ``sqrt(2 + Delta^2) = 2 Delta``: below it per-example (nonlinear)
    pathways are faster, above it class (margin) pathways are."""
    return math.sqrt(2.0 / 3.0)


def nonlinear_share(out: Tensor, out_without_margin: Tensor, y: Tensor, delta: float) -> Tensor:
    """Share of a trained network's output carried by the XoR coordinates, normalised to per-example pathways.

    ``out`` are the outputs ``(..., 4, 1)`` on the examples of :func:`margin_xor_data`, ``out_without_margin``
    those on the same examples with ``x_3 = 0``. Only a nonlinear function of ``x_1, x_2`` can predict ``y``,
    so ``sum_k y_k f(x_{12,k}, 0) / sum_k y_k f(x_k)`` is the part of the output the network makes
    nonlinearly. Units pinned to one example (``w ~ x_k``) give exactly ``2 / (2 + Delta^2)``; the returned
    share is divided by that, so it is 1 for a network of per-example pathways and 0 for one that reads only
    ``x_3``. Shape ``(...)``.
    """
    delta = _check_delta(delta)
    if out.shape[-2:] != (4, 1) or out_without_margin.shape != out.shape:
        raise ValueError(f"out and out_without_margin must both have shape (..., 4, 1), got "
                         f"{tuple(out.shape)} and {tuple(out_without_margin.shape)}")
    yk = y[:, 0]
    raw = (yk * out_without_margin[..., 0]).sum(-1) / (yk * out[..., 0]).sum(-1)
    return raw * (2 + delta ** 2) / 2


def transition_margin(deltas, share, level: float = 0.5):
    """The margin at which a decreasing share first falls below ``level``, linearly interpolated.

    ``deltas`` (n,) increasing; ``share`` (n, ...) -> (...). ``ValueError`` naming the share if it does not
    start above ``level`` and end below it (the grid does not bracket the transition).
    """
    d = torch.as_tensor(deltas, dtype=torch.float64)
    sh = torch.as_tensor(share, dtype=torch.float64)
    if d.ndim != 1 or d.shape[0] != sh.shape[0] or d.shape[0] < 2 or bool(torch.any(d.diff() <= 0)):
        raise ValueError(f"deltas must be increasing, one per row of share; got {d.tolist()!r} and share "
                         f"shape {tuple(sh.shape)}")
    below = sh < level
    if bool(torch.any(below[0])) or not bool(torch.all(below[-1])):
        raise ValueError(f"share={sh[[0, -1]].tolist()!r} at deltas {d[0].item()!r}, {d[-1].item()!r} does not "
                         f"bracket level={level!r}; expected the first row above it and the last below")
    i = below.to(torch.int64).argmax(0)                       # first index below the level
    hi, lo = sh.gather(0, i.unsqueeze(0))[0], sh.gather(0, (i - 1).unsqueeze(0))[0]
    return d[i - 1] + (lo - level) / (lo - hi) * (d[i] - d[i - 1])


# ---------------------------------------------------------------- contextual classification (A.2)

def context_data(n: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float64
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` inputs uniform in ``[-1, 1]^2``, each shown in both contexts: ``x (2n, 2)``, ``y = x_c (2n, 1)``,
    ``c (2n,)`` in ``{0, 1}`` (contexts 1 and 2 of App. A.2)."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer (number of inputs), got {n!r}")
    x = 2 * torch.rand(n, 2, generator=generator, dtype=dtype, device=generator.device) - 1
    x = torch.cat([x, x])
    c = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    y = x.gather(1, c[:, None].to(x.device))
    return x, y, c


def context_dln_graph(n_h: int = 4) -> Graph:
    """One always-on pathway ``x (2) -> h (n_h) -> y (1)``: a deep linear network (App. A.2)."""
    _check_n_h(n_h)
    return Graph({"x": 2, "h": n_h, "y": 1}, {"W1": ("x", "h"), "W2": ("h", "y")})


def context_gdln_graph(n_h: int = 4) -> Graph:
    """Two pathways ``x -> h_c -> y``, one per context (App. A.2)."""
    _check_n_h(n_h)
    return Graph({"x": 2, "h1": n_h, "h2": n_h, "y": 1},
                 {"W1a": ("x", "h1"), "W2a": ("h1", "y"), "W1b": ("x", "h2"), "W2b": ("h2", "y")})


def context_gated_data(x: Tensor, y: Tensor, c: Tensor, *, gated: bool) -> GatedData:
    """The data set for :func:`context_dln_graph` (``gated=False``: no gates) or for
    :func:`context_gdln_graph` (``gated=True``: node ``h1`` on in context 1, ``h2`` in context 2)."""
    if c.shape != (x.shape[0],) or bool(((c != 0) & (c != 1)).any()):
        raise ValueError(f"c must be a ({x.shape[0]},) tensor of contexts in {{0, 1}}, got shape {tuple(c.shape)}")
    gates = {}
    if gated:
        gates = {"h1": (c == 0).to(x.dtype), "h2": (c == 1).to(x.dtype)}
    return GatedData(x={"x": x}, y={"y": y}, node_gates=gates)
