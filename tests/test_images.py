"""Tests for gdln.tasks.images: permutations, rotations, trained-route masks (App. D)."""

import itertools

import pytest
import torch

from gdln.tasks import images as T
from gdln.tasks.routing import trained_routes
from helpers import F64


def test_pixel_and_label_permutations_are_permutations_and_seeded():
    p = T.pixel_permutations(5, 49, seed=3)
    assert p.shape == (5, 49)
    assert all(torch.equal(r.sort().values, torch.arange(49)) for r in p)
    assert torch.equal(p, T.pixel_permutations(5, 49, seed=3))
    lp = T.label_permutations(7, kind="random", seed=1)
    assert all(torch.equal(r.sort().values, torch.arange(10)) for r in lp)


def test_lexicographic_permutations_fix_classes_0_to_4():
    lp = T.label_permutations(120, kind="lexicographic")
    assert lp[0].tolist() == list(range(10))
    assert lp[5].tolist() == list(next(itertools.islice(itertools.permutations(range(10)), 5, None)))
    assert (lp[:, :5] == torch.arange(5)).all()  # 5! = 120 permutations of classes 5-9 come first
    with pytest.raises(ValueError, match="kind"):
        T.label_permutations(3, kind="sorted")


@pytest.mark.parametrize("M,K", [(6, 1), (10, 4), (7, 7), (40, 16)])
def test_trained_routes_k_per_row_and_column(M, K):
    m = trained_routes(M, K, seed=0)
    assert m.shape == (M, M) and m.dtype == torch.bool
    assert (m.sum(1) == K).all() and (m.sum(0) == K).all()
    assert not torch.equal(m, trained_routes(M, K, seed=1)) or K in (0, M)


def test_trained_routes_bad_k():
    with pytest.raises(ValueError, match="K=6 is invalid"):
        trained_routes(5, 6, seed=0)
    with pytest.raises(ValueError, match="M=0 is invalid"):
        trained_routes(0, 0, seed=0)


def test_rotation_angles_paper_and_code():
    assert T.rotation_angles(4).tolist() == [0, 45, 90, 135]
    assert T.rotation_angles(4, span=270).tolist() == [0, 67.5, 135, 202.5]
    with pytest.raises(ValueError, match="span"):
        T.rotation_angles(4, span=90)


def test_rotate_matches_rot90_and_is_counter_clockwise():
    x = torch.rand(2, 3, 8, 8, dtype=F64)
    exact = T.rotate(x, 90.0)
    assert torch.equal(exact, torch.rot90(x, 1, (-2, -1)))
    # the resampling path at (almost) 90 degrees agrees with the exact rotation
    approx = T.rotate(x, 90.0 + 1e-6)
    assert (approx - exact).abs().max() < 1e-6
    # a rotation by theta then -theta recovers the centre pixels (bilinear, interior)
    back = T.rotate(T.rotate(x, 30.0), -30.0)
    assert (back - x)[..., 3:5, 3:5].abs().max() < 0.5
    with pytest.raises(ValueError, match="images"):
        T.rotate(x[0], 30.0)


def test_image_vectors_normalise_rotate_downsample():
    img = torch.zeros(1, 4, 4, dtype=torch.uint8)
    img[0, 0, :] = 255  # top row white
    v = T.image_vectors(img, mean=0.0, std=1.0)
    assert v.shape == (1, 16) and v[0, :4].tolist() == [1.0] * 4
    r = T.image_vectors(img, mean=0.0, std=1.0, angle=90.0).view(4, 4)
    assert r[:, 0].tolist() == [1.0] * 4  # counter-clockwise: top row -> left column
    d = T.image_vectors(img, mean=0.5, std=0.5, downsample=2)
    assert d.shape == (1, 4) and torch.allclose(d, torch.tensor([[0.0, 0.0, -1.0, -1.0]]))


def test_mnist_family_shapes():
    from gdln.data import loaders as data
    try:
        data.load_mnist("test")
    except data.DataMissingError as e:
        pytest.skip(f"MNIST not available: {e}")
    fam = T.mnist_family("rotated", 3, n_train=20, n_test=10, downsample=2, data_dir=None)
    assert fam.train_x.batch(torch.arange(5)).shape == (3, 5, 196)
    assert torch.equal(fam.train_x.base[0], T.image_vectors(
        data.load_mnist("train")[0][T.subset_indices(60000, 20).numpy()], mean=0.1307, std=0.3081, downsample=2))
    fam = T.mnist_family("permuted", 3, n_train=20, n_test=10, label_kind="lexicographic")
    assert fam.train_x.batch(torch.arange(5)).shape == (3, 5, 784) and fam.label_perms.shape == (3, 10)
    with pytest.raises(ValueError, match="input_kind"):
        T.mnist_family("flipped", 3, n_train=20, n_test=10)
