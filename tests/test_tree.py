"""gdln.tasks.tree: the balanced tree's features and their exact SVD (Haar vectors, sqrt(m - 1))."""

import numpy as np
import pytest

from gdln.tasks.tree import haar_basis, tree_features, tree_levels, tree_singular_values


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_haar_vectors_are_the_exact_singular_vectors(depth):
    Y, H, sv = tree_features(depth), haar_basis(depth), tree_singular_values(depth)
    P = 2 ** depth
    assert Y.shape == (2 * P - 1, P) and np.allclose(H.T @ H, np.eye(P), atol=1e-14)
    assert np.allclose(Y.T @ Y @ H, H * sv ** 2, atol=1e-12)
    assert np.allclose(np.sort(np.linalg.svd(Y, compute_uv=False)), np.sort(sv), atol=1e-12)
    levels = tree_levels(depth)
    assert len(levels) == P and all(np.diff([sv[levels.index(lv)] for lv in sorted(set(levels))]) < 0)  # decay


def test_common_ancestors_and_bad_depth():
    K = tree_features(2).T @ tree_features(2)
    assert K[0, 0] == 3 and K[0, 1] == 2 and K[0, 2] == 1  # leaf, sibling, cousin: 3, 2 and 1 common ancestors
    for bad in (0, 11, 2.0, True):
        with pytest.raises(ValueError, match="depth=.* is invalid"):
            tree_features(bad)
