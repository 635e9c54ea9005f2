"""Tests for gdln.tasks.resnet: architecture on random weights, pretrained accuracy on JPEG test images."""

import math

import pytest
import torch

from gdln.data import loaders as data
from gdln.tasks import resnet
from gdln.tasks.images import subset_indices
from helpers import gen


def _random_state_dict(seed=0):
    g = gen(seed)
    sd = {"conv1.weight": torch.randn(16, 3, 3, 3, generator=g) * 0.2}

    def bn(p, c):
        sd.update({p + ".weight": torch.rand(c, generator=g) + 0.5, p + ".bias": torch.randn(c, generator=g) * 0.1,
                   p + ".running_mean": torch.randn(c, generator=g) * 0.1,
                   p + ".running_var": torch.rand(c, generator=g) + 0.5})

    bn("bn1", 16)
    cin = 16
    for s, c in ((1, 16), (2, 32), (3, 64)):
        for b in range(3):
            p = f"layer{s}.{b}"
            sd[p + ".conv1.weight"] = torch.randn(c, cin, 3, 3, generator=g) * 0.1
            sd[p + ".conv2.weight"] = torch.randn(c, c, 3, 3, generator=g) * 0.1
            bn(p + ".bn1", c)
            bn(p + ".bn2", c)
            cin = c
    sd["linear.weight"] = torch.randn(10, 64, generator=g)
    sd["linear.bias"] = torch.zeros(10)
    return sd


def test_shapes_and_encoder_is_stage2_pooled():
    sd = _random_state_dict()
    x = torch.randn(3, 3, 32, 32)
    assert resnet.forward(sd, x).shape == (3, 10)
    f = resnet.forward(sd, x, upto="encoder")
    assert f.shape == (3, 512)
    # the encoder equals a manual conv1 + stage 1 + stage 2, then 4x4 average pooling
    h = torch.relu(resnet._bn(sd, "bn1", torch.nn.functional.conv2d(x, sd["conv1.weight"], padding=1)))
    for s, st in ((1, 1), (2, 2)):
        for b in range(3):
            h = resnet._block(sd, f"layer{s}.{b}", h, st if b == 0 else 1)
    assert h.shape == (3, 32, 16, 16)
    assert torch.allclose(f, torch.nn.functional.avg_pool2d(h, 4).flatten(1))
    with pytest.raises(ValueError, match="upto"):
        resnet.forward(sd, x, upto="layer3")


def test_option_a_shortcut_pads_channels_with_zeros():
    sd = _random_state_dict()
    x = torch.randn(1, 16, 32, 32)
    for k in list(sd):  # zero the residual branch of block layer2.0: output = relu(shortcut(x))
        if k.startswith("layer2.0.bn2.") and k.endswith(("weight", "bias")):
            sd[k] = torch.zeros_like(sd[k])
    out = resnet._block(sd, "layer2.0", x, 2)
    assert out.shape == (1, 32, 16, 16)
    assert torch.equal(out[:, 8:24], torch.relu(x[:, :, ::2, ::2]))
    assert out[:, :8].abs().max() == 0 and out[:, 24:].abs().max() == 0


def _need_data():
    try:
        path = data.resnet20_weights_path()
        data._find((data.CIFAR_JPEG_TAR,), "CIFAR-10", None)
    except data.DataMissingError as e:
        pytest.skip(f"CIFAR-10 / ResNet-20 weights not available: {e}")
    return path


def test_pretrained_accuracy_on_jpeg_test_subset():
    """The full ResNet-20 reproduces the README's 81.0% on 300 JPEG test images (within 3 binomial SE)."""
    _need_data()
    sd = resnet.load_resnet20()
    assert not any(k.startswith("module.") for k in sd)
    c = data.load_cifar10("test")
    idx = subset_indices(len(c.labels), 300, seed=0).numpy()
    pred = resnet.forward(sd, resnet.normalize(resnet.to_unit(c.images[idx]))).argmax(1).numpy()
    acc = (pred == c.labels[idx]).mean()
    p = 0.810 if c.source == data.SOURCE_JPEG else 0.918
    assert abs(acc - p) <= 3 * math.sqrt(p * (1 - p) / 300), (acc, c.source)


def test_rotation_features_cached(tmp_path, monkeypatch):
    _need_data()
    data.load_cifar10("test")  # decoded arrays come from the default cache
    cif_cache = data.cache_dir()
    monkeypatch.setenv("GDLN_CACHE_DIR", str(tmp_path))
    (tmp_path / "cifar10_jpeg_test.npz").symlink_to(cif_cache / "cifar10_jpeg_test.npz")
    f, y, src = resnet.rotation_features("test", [0.0, 90.0], 20)
    assert f.shape == (2, 20, 512) and y.shape == (20,) and "CIFAR-10" in src
    assert len(list(tmp_path.glob("resnet20_feat_*.npz"))) == 2
    f2, _, _ = resnet.rotation_features("test", [0.0, 90.0], 20)
    assert torch.equal(f, f2)
    assert not torch.allclose(f[0], f[1])
