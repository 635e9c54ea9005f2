"""Two-layer linear networks from lambda-balanced weights: the exact QQ^T solution (the talk's Eqs. 13-15).

For ``W_1`` (``N_h x N_i``), ``W_2`` (``N_o x N_h``), whitened inputs and ``Sigma^yx`` (``N_o x N_i``), gradient
flow ``tau W_1' = W_2^T (Sigma^yx - W_2 W_1)``, ``tau W_2' = (Sigma^yx - W_2 W_1) W_1^T`` conserves
``W_2^T W_2 - W_1 W_1^T``. When it equals ``lambda I`` (lambda-balanced; Braun et al. 2022, Dominé et al.
2025), the stacked weights ``Q = [W_1^T; W_2]`` obey

``tau Q' = F Q - 1/2 Q Q^T Q``,   ``F = [[-lambda/2 I, Sigma^yx^T], [Sigma^yx, lambda/2 I]]``

(substitute ``W_1 W_1^T = W_2^T W_2 - lambda I`` in the first equation and ``W_2^T W_2 = W_1 W_1^T + lambda I``
in the second), so ``P = Q Q^T`` solves the matrix Riccati equation ``tau P' = F P + P F - P^2``, whose
solution is

``P(t) = Z A^{-1} Z^T``,  ``Z = e^{F t/tau} Q_0``,  ``A = I + Q_0^T [F^{-1} (e^{2 F t/tau} - I) / 2] Q_0``

(``d/dt (Z A^{-1} Z^T)`` gives ``F P + P F - Z A^{-1} A' A^{-1} Z^T`` with ``A' = Z^T Z``). In the eigenbasis of
``F`` (eigenvalues ``+-sqrt(s_i^2 + lambda^2/4)`` and ``sgn(N_o - N_i) lambda/2`` on the ``|N_o - N_i|``
unmatched directions) this is the talk's partitioned form, with ``B, C, D`` the projections of ``Q_0``
on the three groups of eigenvectors. ``(e^{2 mu t} - 1)/(2 mu)`` is taken as ``t`` at ``mu = 0``. Numerically the closed form is applied over
short intervals, each restarted from ``Q(t_k) = Z A^{-1/2}`` (exact: the flow of ``P`` is autonomous), so
that no exponential overflows and ``A`` stays well conditioned.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lambda_balanced_init", "imbalance", "qqt_exact", "qqt_of", "sigmoidality"]


def lambda_balanced_init(n_in: int, n_h: int, n_out: int, lam: float, scale: float, *, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Random weights with ``W_2^T W_2 - W_1 W_1^T = lam I`` exactly.

    ``lam >= 0``: ``W_1`` has i.i.d. entries of size ``scale / sqrt(n_in)`` and ``W_2 = R (W_1 W_1^T + lam I)^{1/2}``
    (``R``: ``n_out x n_h`` with orthonormal columns, so ``n_out >= n_h``); ``lam < 0``: the same with the
    roles of the layers exchanged (``n_in >= n_h``).
    """
    if lam >= 0 and n_out < n_h or lam < 0 and n_in < n_h:
        raise ValueError(f"lam={lam!r} with n_in={n_in}, n_h={n_h}, n_out={n_out} is invalid; lambda-balanced weights "
                         "need n_out >= n_h for lam >= 0 and n_in >= n_h for lam < 0")
    rng = np.random.default_rng(seed)

    def sqrtm_psd(M):
        w, O = np.linalg.eigh(M)
        return O @ np.diag(np.sqrt(np.clip(w, 0, None))) @ O.T

    if lam >= 0:
        W1 = rng.standard_normal((n_h, n_in)) * scale / np.sqrt(n_in)
        R = np.linalg.qr(rng.standard_normal((n_out, n_h)))[0]
        return W1, R @ sqrtm_psd(W1 @ W1.T + lam * np.eye(n_h))
    W2 = rng.standard_normal((n_out, n_h)) * scale / np.sqrt(n_h)
    R = np.linalg.qr(rng.standard_normal((n_in, n_h)))[0]
    return (R @ sqrtm_psd(W2.T @ W2 - lam * np.eye(n_h))).T, W2


def imbalance(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """``W_2^T W_2 - W_1 W_1^T`` (conserved by gradient flow)."""
    return W2.T @ W2 - W1 @ W1.T


def qqt_of(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """``Q Q^T`` with ``Q = [W_1^T; W_2]``: the blocks ``W_1^T W_1, W_1^T W_2^T; W_2 W_1, W_2 W_2^T``."""
    Q = np.vstack([W1.T, W2])
    return Q @ Q.T


def qqt_exact(W1: np.ndarray, W2: np.ndarray, Syx: np.ndarray, lam: float, tau: float, t, *,
              check: float = 1e-10) -> np.ndarray:
    """The exact ``Q Q^T(t)`` from lambda-balanced ``W_1(0), W_2(0)`` (see the module docstring), ``(len(t), N, N)``.

    Raises if the initial weights are not lambda-balanced to within ``check`` (relative, Frobenius).
    """
    n_h, n_in = W1.shape
    n_out = W2.shape[0]
    if W2.shape[1] != n_h or Syx.shape != (n_out, n_in):
        raise ValueError(f"W1 {W1.shape}, W2 {W2.shape} and Sigma^yx {Syx.shape} do not fit a {n_in} -> {n_h} -> {n_out} network")
    size = np.linalg.norm(W1 @ W1.T) + np.linalg.norm(W2.T @ W2) + abs(lam)
    gap = np.linalg.norm(imbalance(W1, W2) - lam * np.eye(n_h)) / max(size, 1e-300)
    if gap > check:
        raise ValueError(f"the initial weights are not lambda-balanced for lam={lam!r}: relative gap {gap:.2e} > {check:g}")
    F = np.block([[-lam / 2 * np.eye(n_in), Syx.T], [Syx, lam / 2 * np.eye(n_out)]])
    mu, O = np.linalg.eigh(F)
    times = np.atleast_1d(np.asarray(t, dtype=float)) / tau
    if np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("t must start at or after 0 and increase")
    # the closed form over each interval, restarted from Q(t_k) = e^{F t_k} Q_0 A^{-1/2} (the flow of P is
    # autonomous): intervals of at most 1/max|mu| keep e^{2 mu h} <= e^2, so A stays well conditioned
    h_max = 1.0 / max(np.abs(mu).max(), 1e-300)
    Q, now, out = O.T @ np.vstack([W1.T, W2]), 0.0, []
    for tk in times:
        while now < tk:
            h = min(h_max, tk - now)
            phi = np.where(mu == 0, h, np.expm1(2 * mu * h) / (2 * np.where(mu == 0, 1, mu)))
            A = np.eye(n_h) + Q.T @ (phi[:, None] * Q)
            w, R = np.linalg.eigh(A)
            Q = (np.exp(mu * h)[:, None] * Q) @ (R / np.sqrt(w)) @ R.T
            now += h
        out.append(O @ (Q @ Q.T) @ O.T)
    return np.array(out)


def sigmoidality(t: np.ndarray, loss: np.ndarray) -> float:
    """How sigmoidal a learning curve is: ``1 - r(0) t_half / ln 2``, from its normalised progress.

    ``p(t) = (L(0) - L(t)) / (L(0) - L(end))``; ``r(0) = p'(0)`` (first step) and ``t_half`` the time at
    which ``p = 1/2``. An exponential ``p = 1 - e^{-k t}`` has ``r(0) = k``, ``t_half = ln 2 / k``: index 0.
    A sigmoid from a small start ``a_0`` (Eq. 21, ``p ~ a/a_end``) has ``r(0) ~ 2 s a_0/a_end`` while
    ``t_half ~ ln(a_end/a_0) / (2 s)``: index ``1 - O(a_0 ln(1/a_0))``, which tends to 1.
    """
    t, loss = np.asarray(t, dtype=float), np.asarray(loss, dtype=float)
    p = (loss[0] - loss) / (loss[0] - loss[-1])
    k = int(np.argmax(p >= 0.5))
    t_half = t[k - 1] + (0.5 - p[k - 1]) * (t[k] - t[k - 1]) / (p[k] - p[k - 1]) if k > 0 else t[0]
    r0 = (p[1] - p[0]) / (t[1] - t[0])
    return float(1 - r0 * t_half / np.log(2))
