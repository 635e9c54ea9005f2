"""A deep linear network acts like several chains: full-matrix gradient flow and its singular modes.

The network ``W = W_D ... W_1`` learns from whitened inputs (``Sigma^x = I``) the input-output correlation
``Sigma^yx = U diag(s) V^T`` by gradient flow on ``L = 1/2 tr(W W^T) - tr(W Sigma^yx^T)``:

``tau dW_k/dt = (W_D ... W_{k+1})^T (Sigma^yx - W) (W_{k-1} ... W_1)^T``  (Saxe et al. 2014).

From *decoupled* initial weights (each layer maps singular vector to singular vector through a common
orthonormal hidden basis, :func:`decoupled_init`) every mode strength ``a_i = u_i^T W v_i`` follows its
own balanced chain exactly (:mod:`gdln.theory.dln`); the cross terms stay zero. From small *random*
weights the modes first align ("silent alignment"): in the early linear phase of a two-layer network
the hidden vectors ``x = W_1 v_i`` and ``y = W_2^T u_i`` obey ``tau x' = s_i y``, ``tau y' = s_i x``, so
``(x + y)/2`` grows like ``e^(s_i t/tau)`` while ``x - y`` decays, and ``a_i = y . x`` becomes
``|(x_0 + y_0)/2|^2 e^(2 s_i t/tau)``: the chain of Eq. 21 from the a-priori initial strength
``a_0 = |(W_1(0) v_i + W_2(0)^T u_i)/2|^2`` (:func:`silent_alignment_a0`), known at ``t = 0``, not fitted.
"""

from __future__ import annotations

import numpy as np

from gdln.core.integrate import check_times, ode_samples

__all__ = ["flow_field", "network_flow", "mode_strengths", "decoupled_init", "silent_alignment_a0"]


def _product(Ws: list[np.ndarray], lo: int, hi: int, n: int) -> np.ndarray:
    """``W_{hi-1} ... W_lo`` (identity of size ``n`` when empty)."""
    out = np.eye(n)
    for W in Ws[lo:hi]:
        out = W @ out
    return out


def flow_field(Ws0: list[np.ndarray], Syx: np.ndarray, tau: float, Sxx: np.ndarray | None = None):
    """The gradient flow of ``W_D ... W_1`` on ``Sigma^yx`` as a vector field on the flattened layers.

    ``tau dW_k/dt = (W_D ... W_{k+1})^T (Sigma^yx - W Sigma^x) (W_{k-1} ... W_1)^T``, with whitened inputs
    (``Sigma^x = I``) unless ``Sxx`` is given.

    Returns ``(f, y0, unpack)``: ``f(t, y)`` for an ODE solver, the flattened ``Ws0`` and the inverse of the
    flattening. Products above and below each layer are accumulated once per call (``O(D)`` products).
    """
    Ws0 = [np.asarray(W, dtype=float) for W in Ws0]
    if not Ws0 or any(Ws0[k + 1].shape[1] != Ws0[k].shape[0] for k in range(len(Ws0) - 1)):
        raise ValueError(f"layer shapes {[W.shape for W in Ws0]} do not chain; expected W_k of shape (N_k, N_(k-1))")
    if Syx.shape != (Ws0[-1].shape[0], Ws0[0].shape[1]):
        raise ValueError(f"Sigma^yx has shape {Syx.shape}; the network maps {Ws0[0].shape[1]} -> {Ws0[-1].shape[0]}")
    shapes, sizes = [W.shape for W in Ws0], [W.size for W in Ws0]
    cuts = np.cumsum([0, *sizes])
    D, n_in = len(Ws0), Ws0[0].shape[1]
    if Sxx is not None and np.shape(Sxx) != (n_in, n_in):
        raise ValueError(f"Sigma^x has shape {np.shape(Sxx)}; expected ({n_in}, {n_in})")

    def unpack(y):
        return [y[cuts[k]:cuts[k + 1]].reshape(shapes[k]) for k in range(D)]

    def f(_t, y):
        Ws = unpack(y)
        below = [np.eye(n_in)]  # below[k] = W_{k-1} ... W_1
        for W in Ws:
            below.append(W @ below[-1])
        E = Syx - (below[-1] if Sxx is None else below[-1] @ Sxx)
        grads, above = [None] * D, np.eye(Ws[-1].shape[0])  # above = W_D ... W_{k+1}
        for k in range(D - 1, -1, -1):
            grads[k] = (above.T @ E @ below[k].T).ravel() / tau
            above = above @ Ws[k]
        return np.concatenate(grads)

    return f, np.concatenate([W.ravel() for W in Ws0]), unpack


def network_flow(Ws0: list[np.ndarray], Syx: np.ndarray, tau: float, t, *, rtol: float = 1e-12,
                 atol: float = 1e-14) -> list[list[np.ndarray]]:
    """Gradient flow of ``W_D ... W_1`` on ``Sigma^yx`` (whitened inputs) at times ``t``: one list of layers per time."""
    f, y0, unpack = flow_field(Ws0, Syx, tau)
    Y = ode_samples(f, y0, check_times(t), solver="DOP853", rtol=rtol, atol=atol,
                    what=f"the depth-{len(Ws0)} linear network")
    return [unpack(y) for y in Y]


def mode_strengths(Ws: list[np.ndarray], U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``a_i = u_i^T W_D ... W_1 v_i`` for the columns of ``U`` and ``V``."""
    W = _product(Ws, 0, len(Ws), Ws[0].shape[1])
    return np.einsum("oi,oj,ji->i", U, W, V)


def decoupled_init(U: np.ndarray, V: np.ndarray, a0, n_hidden: list[int], *, seed: int = 0) -> list[np.ndarray]:
    """Balanced decoupled weights with mode strengths ``a0`` (one per column of ``U``/``V``).

    Layer ``k`` maps the ``r`` modes through random orthonormal frames ``R_k`` of the hidden layers:
    ``W_1 = R_1 diag(b) V^T``, ``W_k = R_k diag(b) R_(k-1)^T``, ``W_D = U diag(b) R_(D-1)^T`` with
    ``b = a0^(1/D)``; so ``u_i^T W v_i = a0_i`` and every cross term is 0.
    """
    a0 = np.asarray(a0, dtype=float)
    r = a0.size
    if U.shape[1] != r or V.shape[1] != r or np.any(a0 <= 0) or any(n < r for n in n_hidden):
        raise ValueError(f"a0 has {r} modes, U {U.shape}, V {V.shape}, hidden sizes {n_hidden}; expected r columns, "
                         f"positive strengths and hidden layers of at least r = {r} units")
    D = len(n_hidden) + 1
    b = np.diag(a0 ** (1.0 / D))
    rng = np.random.default_rng(seed)
    frames = [np.linalg.qr(rng.standard_normal((n, n)))[0][:, :r] for n in n_hidden]
    ins, outs = [V, *frames], [*frames, U]
    return [outs[k] @ b @ ins[k].T for k in range(D)]


def silent_alignment_a0(W1: np.ndarray, W2: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The a-priori initial strength of each mode of a two-layer network: ``|(W_1 v_i + W_2^T u_i)/2|^2``."""
    z = (W1 @ V + W2.T @ U) / 2
    return (z ** 2).sum(0)
