"""Numbers and settings as a reader sees them: formatted, never a Python repr.

A chapter prints what it measured; ``print({1: 129.1106596249944})`` or a list of ``np.float64(3.873)``
shows a reader the inside of Python instead. These helpers write the same values in a few significant
digits (:func:`number`), as a list (:func:`numbers`) or as ``key: value`` pairs (:func:`pairs`), and a
nested settings dict as a table (:func:`settings`: HTML in a notebook, aligned text elsewhere)::

    print("time to half of final B2:", show.pairs(th, digits=3))   # 1: 129, 4: 50.3, 25: 14, 100: 5.25
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from numbers import Number
from typing import Any

__all__ = ["scalar", "number", "numbers", "pairs", "settings", "Settings", "MISSING"]

#: How a value that was not measured (NaN) is written.
MISSING = "n/a"


def scalar(x: Any) -> Any:
    """A numpy or torch scalar as a Python number; anything else unchanged."""
    if hasattr(x, "item") and getattr(x, "ndim", 0) == 0:
        return x.item()
    return x


def number(x: Any, digits: int = 3) -> str:
    """``x`` in ``digits`` significant digits (``3.87``, ``0.0017``, ``1.2e-06``); an integer, or a float that is
    one below a million (a grid value such as 1000.0), as an integer; NaN as :data:`MISSING`; text unchanged."""
    if digits < 1:
        raise ValueError(f"digits={digits!r} is invalid; expected at least 1 significant digit")
    x = scalar(x)
    if isinstance(x, bool) or not isinstance(x, Number):
        return str(x)
    if isinstance(x, int):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def numbers(values: Iterable[Any], digits: int = 3, sep: str = ", ") -> str:
    """``values`` as one line of :func:`number` s: ``3.87, 2.65, 1.73, 1``."""
    return sep.join(number(v, digits) for v in values)


def pairs(mapping: Mapping[Any, Any], digits: int = 3, sep: str = ", ") -> str:
    """``mapping`` as ``key: value`` pairs, keys and values by :func:`number`: ``1e-04: 0.999, 0.001: 0.994``."""
    return sep.join(f"{number(k, digits)}: {number(v, digits)}" for k, v in mapping.items())


def _flat(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ``(dotted.name, value)`` rows, in their order."""
    rows = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flat(value, name + ".")
        else:
            rows.append((name, value))
    return rows


def _value(value: Any, digits: int) -> str:
    value = scalar(value)
    if isinstance(value, (list, tuple)):
        return numbers(value, digits)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return number(value, digits)


class Settings:
    """A settings table (see :func:`settings`): HTML in a notebook, aligned text elsewhere."""

    def __init__(self, values: Mapping[str, Any], *, digits: int = 4, title: str = "setting"):
        if not isinstance(values, Mapping):
            raise TypeError(f"settings must be a mapping of names to values, got {type(values).__name__}")
        self.rows = [(name, _value(v, digits)) for name, v in _flat(values)]
        self.title = title

    def _repr_html_(self) -> str:
        e = html.escape
        body = "".join(f"<tr><td><code>{e(k)}</code></td><td>{e(v)}</td></tr>" for k, v in self.rows)
        return (f'<table class="gdln-table gdln-settings"><thead><tr><th>{e(self.title)}</th><th>value</th></tr>'
                f"</thead><tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        width = max((len(k) for k, _ in self.rows), default=0)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows)


def settings(values: Mapping[str, Any], *, digits: int = 4, title: str = "setting") -> Settings:
    """A (nested) settings dict as a two-column table, one row per setting (nested keys dotted: ``train.lr``),
    lists as one line of numbers, large integers with thousands separators."""
    return Settings(values, digits=digits, title=title)
