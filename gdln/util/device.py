"""Device and dtype choices in one place: CPU by default, a GPU when present and asked for."""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "resolve_device", "generator"]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map ``"auto"`` to CUDA when available (else CPU); validate anything else.

    Raises ``ValueError`` naming the value for an unknown device and ``RuntimeError`` when CUDA is
    requested but not available.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise ValueError(f"device must be one of {DEVICES} or 'cuda:N', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    return torch.device(device)


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device`` (every random draw in gdln takes one)."""
    g = torch.Generator(device=resolve_device(device))
    g.manual_seed(int(seed))
    return g
