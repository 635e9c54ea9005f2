"""Hierarchical data from a balanced binary tree, and its exact singular value decomposition.

``P = 2^depth`` items are the leaves of a balanced binary tree. Every node ``v`` of the tree (the root
included) contributes one feature, "belongs to ``v``": 1 for the items in ``v``'s subtree, 0 otherwise
(the hierarchical domains of Saxe et al. 2019). The item-feature matrix ``Y`` (features x items) then has
``Y^T Y = K``, ``K_ij`` = the number of common ancestors of items ``i`` and ``j``.

Exact SVD. For a node ``v`` with ``m`` leaves below it, the Haar vector ``h_v`` (``+1`` on the leaves of its
left child, ``-1`` on those of its right child, normalised) is an eigenvector of ``K``: for a leaf ``i``
under the left child, ``(K h_v)_i`` sums the sizes of ``i``'s ancestors inside that child,
``m/2 + m/4 + ... + 1 = m - 1``, and the same with a minus sign on the right; so the eigenvalue is
``m - 1``. The uniform vector has eigenvalue ``2P - 1`` (the sizes of all of a leaf's ancestors). The
singular values of ``Y`` are the square roots: one per level of the tree, decaying with depth, every
node of a level sharing its level's value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["tree_features", "haar_basis", "tree_levels", "tree_singular_values"]


def _depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 10:
        raise ValueError(f"depth={depth!r} is invalid; expected an integer in 1..10 (2 to 1024 items)")
    return depth


def tree_features(depth: int) -> np.ndarray:
    """``Y`` (``2P - 1`` features x ``P`` items): feature ``v`` is 1 on the leaves below node ``v`` (root first)."""
    P = 2 ** _depth(depth)
    rows = []
    for level in range(depth + 1):
        m = P >> level  # leaves below a node of this level
        for k in range(2 ** level):
            row = np.zeros(P)
            row[k * m:(k + 1) * m] = 1.0
            rows.append(row)
    return np.array(rows)


def tree_levels(depth: int) -> list[int]:
    """The level of each column of :func:`haar_basis`: 0 for the uniform vector, ``l + 1`` for the Haar
    vectors of the nodes at depth ``l``."""
    return [0] + [level + 1 for level in range(_depth(depth)) for _ in range(2 ** level)]


def haar_basis(depth: int) -> np.ndarray:
    """Orthonormal ``P x P``: the uniform vector, then the Haar vector of every internal node (root first)."""
    P = 2 ** _depth(depth)
    cols = [np.full(P, 1 / np.sqrt(P))]
    for level in range(depth):
        m = P >> level
        for k in range(2 ** level):
            h = np.zeros(P)
            h[k * m:k * m + m // 2], h[k * m + m // 2:(k + 1) * m] = 1.0, -1.0
            cols.append(h / np.sqrt(m))
    return np.array(cols).T


def tree_singular_values(depth: int) -> np.ndarray:
    """The singular value of :func:`tree_features` for each column of :func:`haar_basis`:
    ``sqrt(2P - 1)`` for the uniform vector, ``sqrt(m - 1)`` for a node with ``m`` leaves below it."""
    P = 2 ** _depth(depth)
    return np.sqrt([2 * P - 1] + [(P >> level) - 1 for level in range(depth) for _ in range(2 ** level)])
