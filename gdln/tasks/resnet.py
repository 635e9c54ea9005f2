"""The frozen CIFAR-10 ResNet-20 encoder of the CIFAR experiments (App. D, Fig. 7b).

Architecture (He et al. 2016, Sec. 4.2; the ``akamaster/pytorch_resnet_cifar10`` weights the authors
used): conv3x3 3->16 + BN + ReLU, three stages of three basic blocks (16, 32, 64 channels; stride 2 at
the start of stages 2 and 3), option-A shortcuts (subsample every second pixel, zero-pad channels),
global average pooling, linear 64->10. The paper's encoder keeps conv1 + stage 1 + stage 2
(32 x 16 x 16), average-pools 4x4 to 32 x 4 x 4 = 512 features, and stays frozen.

Written functionally over the state dict (inference only, BatchNorm in eval mode).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from gdln.data import loaders as gdata
from gdln.tasks.images import (
    Domains,
    TaskFamily,
    label_permutations,
    rotate,
    rotation_angles,
    subset_indices,
)

__all__ = ["MEAN", "STD", "N_FEATURES", "load_resnet20", "to_unit", "normalize", "forward",
    "rotation_features", "cifar_family"]

#: Input normalisation the weights were trained with (data README).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
N_FEATURES = 512


def load_resnet20(path: str | os.PathLike | None = None, *, data_dir=None) -> dict[str, torch.Tensor]:
    """The ResNet-20 state dict (``module.`` prefix stripped), loaded with ``weights_only=True``."""
    path = Path(path) if path is not None else gdata.resnet20_weights_path(data_dir=data_dir)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = ckpt["state_dict"] if "state_dict" in ckpt else ckpt
    sd = {k.removeprefix("module."): v.float() for k, v in sd.items()}
    missing = [k for k in ("conv1.weight", "layer2.2.bn2.running_var", "linear.weight") if k not in sd]
    if missing:
        raise ValueError(f"{path} is not a CIFAR ResNet-20 state dict: missing keys {missing}")
    return sd


def _bn(sd, p, x):
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                        sd[p + ".bias"], training=False, eps=1e-5)


def _block(sd, p, x, stride):
    out = F.relu(_bn(sd, p + ".bn1", F.conv2d(x, sd[p + ".conv1.weight"], stride=stride, padding=1)))
    out = _bn(sd, p + ".bn2", F.conv2d(out, sd[p + ".conv2.weight"], stride=1, padding=1))
    planes = out.shape[1]
    if stride != 1 or x.shape[1] != planes:  # option A: subsample, pad channels with zeros on both sides
        pad = planes // 4
        x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad))
    return F.relu(out + x)


def to_unit(images_uint8: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(n, 32, 32, 3)`` uint8 RGB -> ``(n, 3, 32, 32)`` float in [0, 1]."""
    return torch.as_tensor(np.asarray(images_uint8)).permute(0, 3, 1, 2).float() / 255.0


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Normalise ``(n, 3, H, W)`` images in [0, 1] with the weights' mean and std."""
    m = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


@torch.no_grad()
def forward(sd: dict[str, torch.Tensor], x: torch.Tensor, upto: str = "logits") -> torch.Tensor:
    """Run normalised images ``(n, 3, 32, 32)`` through ResNet-20.

    ``upto="logits"``: the full network (n, 10). ``upto="encoder"``: the paper's frozen encoder,
    conv1 + stage 1 + stage 2 then 4x4 average pooling, flattened to (n, 512).
    """
    if upto not in ("logits", "encoder"):
        raise ValueError(f"upto must be 'logits' or 'encoder', got {upto!r}")
    h = F.relu(_bn(sd, "bn1", F.conv2d(x, sd["conv1.weight"], padding=1)))
    for stage, stride in ((1, 1), (2, 2), (3, 2)):
        if stage == 3 and upto == "encoder":
            return F.avg_pool2d(h, 4).flatten(1)  # (n, 32, 4, 4) -> (n, 512)
        for b in range(3):
            h = _block(sd, f"layer{stage}.{b}", h, stride if b == 0 else 1)
    return F.linear(h.mean(dim=(2, 3)), sd["linear.weight"], sd["linear.bias"])


def rotation_features(split: str, angles, n: int, *, subset_seed: int = 0, data_dir=None,
                      batch: int = 500, use_cache: bool = True, device="cpu") -> tuple[torch.Tensor, torch.Tensor, str]:
    """Encoder features of ``n`` CIFAR-10 ``split`` images under each rotation: ``(M, n, 512)``.

    Computed on ``device``, returned on the CPU. Returns ``(features, labels (n,), source)``; ``source`` says "CIFAR-10, JPEG copy" when the JPEG
    fallback was used. Each (source, split, subset, angle) is computed once and cached under
    ``data/cache/`` (:func:`gdln.data.cached_arrays`: checked on load), keyed by the checksums of the
    CIFAR files and the weights and by the code of this module and of :mod:`gdln.tasks.images`.
    """
    cif = gdata.load_cifar10(split, data_dir=data_dir)
    idx = _subset(len(cif.labels), n, subset_seed)
    labels = torch.as_tensor(cif.labels[idx])
    weights = gdata.resnet20_weights_path(data_dir=data_dir)  # checked, and listed in the data manifest
    made_from = {"cifar": cif.digest, "weights": gdata.file_identity(weights)["sha256"], "code": _code_hash(),
                 "split": split, "n": n, "subset_seed": subset_seed}
    sd = None
    feats = []
    tag = "jpeg" if cif.source == gdata.SOURCE_JPEG else "official"
    for a in tqdm(list(map(float, angles)), desc=f"ResNet features ({split}, {cif.source})", leave=False):

        def compute(a=a):
            nonlocal sd
            if sd is None:
                sd = {k: v.to(device) for k, v in load_resnet20(weights).items()}
            out = []
            for s in range(0, n, batch):
                x = to_unit(cif.images[idx[s:s + batch]]).to(device)
                # rotate in pixel space (corners filled black, as an image library would), then normalise
                out.append(forward(sd, normalize(rotate(x, a)), upto="encoder").cpu())
            return {"features": torch.cat(out).numpy()}

        arrays = gdata.cached_arrays(f"resnet20_feat_{tag}_{split}", {**made_from, "angle": f"{a:.9f}"}, compute,
                                     {"features": ("float32", (n, N_FEATURES))}, use_cache=use_cache)
        feats.append(torch.from_numpy(arrays["features"]))
    return torch.stack(feats), labels, cif.source


def _code_hash() -> str:
    """SHA-256 of the code that computes the features (this module and the image transforms)."""
    h = hashlib.sha256()
    for module in (__file__, inspect.getfile(rotate)):
        h.update(Path(module).read_bytes())
    return h.hexdigest()


def _subset(n_total: int, n: int, seed: int) -> np.ndarray:
    return subset_indices(n_total, n, seed).numpy()


def cifar_family(M: int, *, n_train: int, n_test: int, span: float = 180.0, label_kind: str = "random",
                 seed: int = 0, data_dir=None, device="cpu"):
    """CIFAR-10 with ``M`` rotated input domains seen through the frozen encoder and ``M`` label-permuted
    output domains (CIFAR-Rotated-Input-Permuted-Output-M, App. D). ``source`` names the CIFAR copy."""

    angles = rotation_angles(M, span).tolist()
    ftr, ytr, src = rotation_features("train", angles, n_train, data_dir=data_dir, device=device)
    fte, yte, _ = rotation_features("test", angles, n_test, data_dir=data_dir, device=device)
    # centre and scale the features with training statistics (shared by all domains)
    mu, sd = ftr.mean((0, 1)), ftr.std((0, 1)).clamp(min=1e-6)
    return TaskFamily(f"CIFAR-rotated-input-permuted-output-{M} ({src})", Domains((ftr - mu) / sd), ytr,
                      Domains((fte - mu) / sd), yte, label_permutations(M, kind=label_kind, seed=seed + 1), src)
