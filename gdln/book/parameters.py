"""Validation of a chapter's papermill parameters (mode, seed, device, and chapter extras)."""

from __future__ import annotations

from typing import Any

from gdln.book.claims import MODES
from gdln.util.device import DEVICES

__all__ = ["check_parameters"]


def check_parameters(mode: Any, seed: Any, device: Any, **extra: Any) -> None:
    """Raise ``ValueError`` naming the offending parameter, its value and what was expected.

    ``extra`` maps a parameter name to ``(value, predicate, expectation)``, e.g.
    ``n_seeds=(n_seeds, lambda v: isinstance(v, int) and v > 0, "a positive integer")``.
    """
    if mode not in MODES:
        raise ValueError(f"parameter mode={mode!r} is invalid; expected one of {MODES}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"parameter seed={seed!r} is invalid; expected a non-negative integer")
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise ValueError(f"parameter device={device!r} is invalid; expected one of {DEVICES} or 'cuda:N'")
    for name, spec in extra.items():
        value, predicate, expectation = spec
        if not predicate(value):
            raise ValueError(f"parameter {name}={value!r} is invalid; expected {expectation}")
