"""Transformed task families (Sec. 5, App. D, Fig. 7a).

From one base data set we build ``M`` input domains (input transformations ``f_i^in``: pixel
permutations or rotations) and ``M`` output domains (output transformations ``f_j^out``: label
permutations). Route ``(i, j)`` is the task ``(f_i^in(x), f_j^out(y))``. Only ``K`` routes per input
(and per output) are trained (App. D.2); the rest are evaluated zero-shot.

Choices the authors' code made differently from the paper's text are available as options:

- rotations: the paper states ``180 i / M`` degrees; the code uses ``270 i / M`` (``span=270``);
- label permutations: random (``kind="random"``, the clean choice) or the j-th permutation in
  itertools' lexicographic order (``kind="lexicographic"``, the code's), which for ``M <= 120`` leaves
  classes 0-4 fixed so that all output domains agree on half of the labels.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gdln.data.loaders import MNIST_MEAN, MNIST_STD, load_mnist

__all__ = ["subset_indices", "pixel_permutations", "rotation_angles", "rotate", "label_permutations",
    "image_vectors", "TaskFamily", "mnist_family", "Domains"]


def _check_m(M: int, name: str = "M") -> None:
    if isinstance(M, bool) or not isinstance(M, int) or M < 1:
        raise ValueError(f"{name} must be a positive integer, got {M!r}")


def subset_indices(n_total: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` distinct indices out of ``n_total``, drawn with ``seed`` (a fixed image subset)."""
    if not 0 < n <= n_total:
        raise ValueError(f"subset size n={n!r} must be in 1..{n_total}")
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=g)[:n].sort().values


def pixel_permutations(M: int, n_pixels: int, seed: int) -> torch.Tensor:
    """``M`` random pixel permutations, ``(M, n_pixels)`` long: domain ``i`` sees ``x[..., perm[i]]``."""
    _check_m(M)
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n_pixels, generator=g) for _ in range(M)])


def rotation_angles(M: int, span: float = 180.0) -> torch.Tensor:
    """Angles ``span * i / M`` degrees, ``i = 0..M-1`` (App. D: ``span = 180``; authors' code: 270)."""
    _check_m(M)
    if span not in (180.0, 270.0, 360.0):
        raise ValueError(f"span must be 180 (paper), 270 (authors' code) or 360 degrees, got {span!r}")
    return torch.arange(M, dtype=torch.float64) * (span / M)


def rotate(images: torch.Tensor, angle_deg: float) -> torch.Tensor:
    """Rotate ``images (n, C, H, W)`` counter-clockwise by ``angle_deg`` about the centre.

    Exact (``torch.rot90``) for multiples of 90 degrees on square images; otherwise bilinear
    resampling with ``affine_grid`` + ``grid_sample`` and zero fill (what torchvision's
    ``rotate`` does, without torchvision).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (n, C, H, W), got shape {tuple(images.shape)}")
    q = angle_deg / 90.0
    if abs(q - round(q)) < 1e-12 and images.shape[-1] == images.shape[-2]:
        return torch.rot90(images, k=int(round(q)) % 4, dims=(-2, -1))
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    # grid_sample maps output coords to input coords: inverse rotation (y axis points down)
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def label_permutations(M: int, n_classes: int = 10, *, kind: str = "random", seed: int = 0) -> torch.Tensor:
    """``M`` label permutations ``(M, n_classes)``: output domain ``j`` relabels class ``c`` as ``perm[j, c]``.

    ``kind="random"``: independent uniform permutations (seeded). ``kind="lexicographic"``: the first
    ``M`` permutations in ``itertools.permutations`` order (the authors' code; leaves classes 0-4 fixed
    for ``M <= 120``).
    """
    _check_m(M)
    if kind == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.stack([torch.randperm(n_classes, generator=g) for _ in range(M)])
    if kind == "lexicographic":
        if M > math.factorial(n_classes):
            raise ValueError(f"M={M} exceeds the {math.factorial(n_classes)} permutations of {n_classes} classes")
        return torch.tensor(list(itertools.islice(itertools.permutations(range(n_classes)), M)))
    raise ValueError(f"kind must be 'random' or 'lexicographic', got {kind!r}")


def image_vectors(images, *, mean: float, std: float, downsample: int = 1, angle: float | None = None) -> torch.Tensor:
    """uint8 images ``(n, H, W)`` -> normalised float vectors ``(n, d)``.

    Optionally rotated by ``angle`` degrees (in pixel space, black fill) and average-pooled by
    ``downsample`` (e.g. 2: 28x28 MNIST -> 14x14, a quick-mode reduction) before normalising.
    """
    x = torch.as_tensor(images).float().div(255.0).unsqueeze(1)  # (n, 1, H, W)
    if angle is not None and angle != 0:
        x = rotate(x, float(angle))
    if downsample > 1:
        x = F.avg_pool2d(x, downsample)
    return ((x - mean) / std).flatten(1)


@dataclass
class TaskFamily:
    """A transformed task family (App. D): train/test inputs of the M input domains, labels, label perms."""

    name: str
    train_x: "Domains"
    train_y: torch.Tensor
    test_x: "Domains"
    test_y: torch.Tensor
    label_perms: torch.Tensor
    source: str


def mnist_family(input_kind: str, M: int, *, n_train: int, n_test: int, downsample: int = 1,
                 label_kind: str = "random", span: float = 180.0, seed: int = 0, data_dir=None) -> TaskFamily:
    """MNIST with ``M`` permuted-pixel (``"permuted"``) or rotated (``"rotated"``) input domains and
    ``M`` label-permuted output domains, on fixed image subsets (subset seed 0; task seed ``seed``)."""

    if input_kind not in ("permuted", "rotated"):
        raise ValueError(f"input_kind must be 'permuted' or 'rotated', got {input_kind!r}")
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        imgs, labels = load_mnist(split, data_dir=data_dir)
        idx = subset_indices(len(labels), n, seed=0).numpy()
        kw = dict(mean=MNIST_MEAN, std=MNIST_STD, downsample=downsample)
        if input_kind == "permuted":
            base = image_vectors(imgs[idx], **kw)
            dom = Domains(base, pixel_permutations(M, base.shape[1], seed))
        else:
            dom = Domains(_rotated_domains(imgs[idx], rotation_angles(M, span), kw))
        out += [dom, torch.as_tensor(labels[idx])]
    return TaskFamily(f"MNIST-{input_kind}-input-permuted-output-{M}", *out,
                      label_permutations(M, kind=label_kind, seed=seed + 1), "MNIST")


def _rotated_domains(images, angles, kw) -> torch.Tensor:
    """``(M, n, d)`` inputs, one rotation per domain, filled in place: at M = 40 and 60,000 images the
    stack is 7.5 GB, and building it from a list of rotated copies would hold it twice."""
    first = image_vectors(images, angle=float(angles[0]), **kw)
    out = torch.empty((len(angles), *first.shape), dtype=first.dtype)
    out[0] = first
    for i, a in enumerate(angles[1:], start=1):
        out[i] = image_vectors(images, angle=float(a), **kw)
    return out


@dataclass
class Domains:
    """Inputs of the ``M`` input domains.

    Either ``base (n, d)`` with ``perms (M, d)`` (pixel permutations, applied on the fly to each
    batch), or ``base (M, n, d)`` precomputed per domain (rotations, ResNet features) with ``perms=None``.
    """

    base: torch.Tensor
    perms: torch.Tensor | None = None

    def __post_init__(self):
        if self.perms is None and self.base.ndim != 3:
            raise ValueError(f"without perms, base must be (M, n, d); got shape {tuple(self.base.shape)}")
        if self.perms is not None and (self.base.ndim != 2 or self.perms.shape[1] != self.base.shape[1]):
            raise ValueError(f"with perms (M, d)={tuple(self.perms.shape)}, base must be (n, d) with the same d; "
                             f"got {tuple(self.base.shape)}")

    @property
    def M(self) -> int:
        return self.perms.shape[0] if self.perms is not None else self.base.shape[0]

    @property
    def n(self) -> int:
        return self.base.shape[-2]

    @property
    def d(self) -> int:
        return self.base.shape[-1]

    def to(self, device) -> "Domains":
        """The same inputs on ``device`` (a GPU run keeps them there: no per-step transfer)."""
        return Domains(self.base.to(device), None if self.perms is None else self.perms.to(device))

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Inputs of examples ``idx`` in every domain: ``(M, B, d)``."""
        if self.perms is None:
            return self.base[:, idx]
        return self.base[idx][:, self.perms].transpose(0, 1)
