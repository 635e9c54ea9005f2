"""Numbers and settings as a reader sees them (gdln.book.show): formatted, never a Python repr."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdln.book import show


def test_numbers_in_significant_digits_never_a_repr():
    assert show.number(np.float64(3.8729833)) == "3.87" and show.number(torch.tensor(0.0017)) == "0.0017"
    assert show.number(129.1106596249944, 4) == "129.1" and show.number(1.2e-6) == "1.2e-06"
    assert show.number(1000.0) == "1000" and show.number(7) == "7" and show.number(math.nan) == show.MISSING
    assert show.number("orthogonal") == "orthogonal" and show.number(-math.inf) == "\u2212\u221e"
    assert show.numbers([np.float64(3.873), np.float64(2.6458), 1.0], 5) == "3.873, 2.6458, 1"
    with pytest.raises(ValueError, match="digits=0 is invalid"):
        show.number(1.0, 0)


def test_pairs_write_a_mapping_without_braces_or_quotes():
    assert show.pairs({1: 129.1106596249944, 4: np.float64(50.25), 10: np.float64("nan")}) == "1: 129, 4: 50.2, 10: n/a"
    assert show.pairs({"LV, depth 2": np.float64(1.868), "GDLN": 1.47}, sep="; ") == "LV, depth 2: 1.87; GDLN: 1.47"


def test_settings_are_a_table_one_row_per_setting():
    cfg = {"mnist": {"n_train": 60000, "downsample": 1}, "train": {"lr": 0.05, "loss": "ce"}, "M": [10, 40]}
    table = show.settings(cfg)
    assert table.rows == [("mnist.n_train", "60,000"), ("mnist.downsample", "1"), ("train.lr", "0.05"),
                          ("train.loss", "ce"), ("M", "10, 40")]
    html = table._repr_html_()
    assert html.startswith('<table class="gdln-table gdln-settings">') and "<td><code>train.lr</code></td><td>0.05</td>" in html
    assert "{" not in repr(table) and "train.lr" in repr(table)
    with pytest.raises(TypeError, match="settings must be a mapping"):
        show.settings([1, 2])
