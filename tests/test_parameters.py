"""Named parameter validators, their static reading from a chapter's source, and the Chapter preamble."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from gdln.book import chapter as chapter_module
from gdln.book.chapter import Chapter, command_value
from gdln.book.parameters import (DEVICE, MODE, SEED, VALIDATORS, Validator, at_least, check_parameters,
                                  check_values, declared_validators, device_name, in_range, non_negative_int,
                                  one_of, optional, positive, zero_or)
from gdln.book.runner import chapters, parse_value
from gdln.util.files import REPO_ROOT


def rejects(validator: Validator, value, values=None) -> str:
    with pytest.raises(ValueError) as err:
        validator.check("p", value, values)
    return str(err.value)


# ---------------------------------------------------------------- each validator

@pytest.mark.parametrize("bad", [True, False, 0, -3, 1.0, 2.5, "3", None, float("nan"), [1]])
def test_at_least_rejects_wrong_types_bools_and_small_values(bad):
    assert rejects(at_least(1), bad) == f"parameter p={bad!r} is invalid; expected an integer >= 1"


def test_at_least_accepts_integers_and_upper_bounds():
    assert at_least(1).check("p", 1) == 1 and at_least(1).check("p", np.int64(5)) == 5
    assert at_least(2, at_most=8).check("p", 8) == 8
    assert rejects(at_least(2, at_most=8), 9).endswith("expected an integer in [2, 8]")
    assert at_least(1, below=4).check("p", 3) == 3
    assert rejects(at_least(1, below=4), 4).endswith("expected an integer with 1 <= value < 4")


def test_bounds_may_name_another_parameter():
    v = at_least(1, at_most="M")
    assert v.check("K", 7, {"K": 7, "M": 7}) == 7
    assert rejects(v, 8, {"M": 7}) == "parameter p=8 is invalid; expected an integer in [1, M=7]"
    assert rejects(v, 3, {}).endswith("expected an integer in [1, M]")  # M missing: invalid, message still clear
    assert rejects(at_least(1, below="M"), 7, {"M": 7}).endswith("1 <= value < M=7")
    assert rejects(v, 3, {"M": "seven"})  # a bound that is not a number never validates
    assert positive(at_most="hi").check("p", 0.5, {"hi": 1.0}) == 0.5


def test_non_negative_int():
    assert non_negative_int().check("seed", 0) == 0
    for bad in (-1, True, 0.0, "0", None):
        assert rejects(non_negative_int(), bad).endswith("expected a non-negative integer")


@pytest.mark.parametrize("bad", [0, -1e-3, True, float("inf"), float("-inf"), float("nan"), "1", None, 1j])
def test_positive_rejects_non_positive_non_finite_and_wrong_types(bad):
    assert rejects(positive(), bad) == f"parameter p={bad!r} is invalid; expected a positive number"


def test_positive_bounds():
    assert positive().check("p", 3) == 3 and positive().check("p", 2.5e-4) == 2.5e-4
    assert positive(at_most=0.1).check("p", 0.1) == 0.1
    assert rejects(positive(at_most=0.1), 0.11).endswith("a positive number <= 0.1")
    assert rejects(positive(below=1), 1.0).endswith("a positive number < 1")
    assert positive(below=1).check("p", np.float64(0.5)) == 0.5


def test_in_range_is_closed_and_numeric():
    v = in_range(0, 1)
    assert v.check("p", 0) == 0 and v.check("p", 1.0) == 1.0
    for bad in (-0.1, 1.01, True, float("nan"), "0.5"):
        assert rejects(v, bad).endswith("expected a number in [0, 1]")


def test_one_of_compares_type_and_value():
    v = one_of("quick", "full")
    assert v.check("mode", "full") == "full"
    assert rejects(v, "fast") == "parameter p='fast' is invalid; expected one of ('quick', 'full')"
    assert rejects(one_of(1, 2), True).endswith("one of (1, 2)")  # True == 1, but it is not one of them
    assert rejects(one_of(1, 2), 1.0)


def test_optional_and_device():
    assert optional(at_least(1)).check("p", None) is None and optional(at_least(1)).check("p", 3) == 3
    assert rejects(optional(at_least(1)), 0).endswith("expected None or an integer >= 1")
    for ok in ("auto", "cpu", "cuda", "cuda:1"):
        assert device_name().check("device", ok) == ok
    for bad in ("gpu", "cuda:", "cuda:x", 0, None):
        assert "expected one of ('auto', 'cpu', 'cuda') or 'cuda:N'" in rejects(device_name(), bad)


def test_zero_or_takes_the_default_or_a_valid_value():
    v = zero_or(at_least(2))
    assert v.check("M_mnist", 0) == 0 and v.check("M_mnist", 10) == 10
    assert rejects(v, 1).endswith("expected 0 (the mode's default) or an integer >= 2")
    assert "expected 0 (the mode's default)" in rejects(v, 0.0) and "expected 0" in rejects(v, False)
    with pytest.raises(TypeError):
        zero_or(lambda v: True)


def test_validators_refuse_bad_arguments_when_built():
    with pytest.raises(TypeError):
        at_least(1.5)
    with pytest.raises(TypeError):
        at_least(True)
    with pytest.raises(TypeError):
        positive(at_most=float("nan"))
    with pytest.raises(TypeError):
        positive(at_most=1, below=2)
    with pytest.raises(TypeError):
        one_of()
    with pytest.raises(TypeError):
        optional(lambda v: True)


def test_validator_repr_is_its_expression_and_round_trips():
    for v in (at_least(1), at_least(2, at_most=8), at_least(1, below="M"), positive(), positive(at_most=0.1),
              in_range(0, 1), one_of("a", "b"), optional(at_least(1)), non_negative_int(), device_name(),
              zero_or(at_least(2))):
        assert eval(repr(v), {"__builtins__": {}}, dict(VALIDATORS)) == v  # noqa: S307


# ---------------------------------------------------------------- checking several values

def test_check_values_and_check_parameters():
    validators = {"mode": MODE, "seed": SEED, "device": DEVICE, "M": at_least(2), "K": at_least(1, at_most="M")}
    check_values({"mode": "quick", "seed": 0, "device": "auto", "M": 7, "K": 4}, validators)
    check_values({"M": 7}, validators)  # values without a validator and validators without a value are skipped
    with pytest.raises(ValueError, match=r"^parameter K=8 is invalid; expected an integer in \[1, M=7\]$"):
        check_values({"M": 7, "K": 8}, validators)
    with pytest.raises(ValueError, match=r"parameter mode='fast' is invalid; expected one of \('quick', 'full'\)"):
        check_parameters("fast", 0, "auto")
    with pytest.raises(ValueError, match=r"parameter seed=-1 is invalid; expected a non-negative integer"):
        check_parameters("quick", -1, "auto")
    with pytest.raises(ValueError, match=r"parameter n=0 is invalid"):
        check_parameters("quick", 0, "cpu", n=(0, at_least(1)))


# ---------------------------------------------------------------- static reading of a chapter

HEADER = "---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n# A chapter\n\n"


def md(*cells: str) -> str:
    return HEADER + "\n".join(f"```{{code-cell}} ipython3\n{c}\n```\n\nSome prose.\n" for c in cells)


PARAMS = ":tags: [parameters]\nmode = \"quick\"\nseed = 0\ndevice = \"auto\"\nn = 3\nrate = 0.5\nK = 2\nM = 4"
SETUP = """:tags: [remove-input]
import gdln.book
from gdln.book import Chapter, at_least, positive
ch = gdln.book.Chapter("alpha", mode, seed, device, replicas=n, threads=None,
                       n=(n, at_least(1)), rate=(rate, positive(at_most=1.0)),
                       K=(K, at_least(1, at_most="M")), M=(M, at_least(2)))
"""


def test_declared_validators_reads_the_chapter_call():
    validators = declared_validators(md(PARAMS, SETUP, "x = 1"))
    assert list(validators) == ["mode", "seed", "device", "n", "rate", "K", "M"]  # options are not parameters
    assert validators["mode"] == MODE and validators["seed"] == SEED and validators["device"] == DEVICE
    assert validators["n"] == at_least(1) and validators["rate"] == positive(at_most=1.0)
    check_values({"n": 2, "rate": 1.0, "K": 4, "M": 4}, validators)
    with pytest.raises(ValueError, match=r"parameter rate=2.0 is invalid; expected a positive number <= 1.0"):
        check_values({"n": 2, "rate": 2.0}, validators)
    with pytest.raises(ValueError, match=r"parameter K=5 is invalid; expected an integer in \[1, M=4\]"):
        check_values({"K": 5, "M": 4}, validators)


def test_declared_validators_handles_yaml_cell_options_and_bare_call():
    cell = "---\ntags: [remove-input]\n---\nfrom gdln.book import *\nch = Chapter('a', mode, seed, device, k=(k, non_negative_int()))"
    assert declared_validators(md(cell))["k"] == non_negative_int()
    cell = "%matplotlib inline\nnot python"  # a cell that is not Python does not stop the search
    assert list(declared_validators(md(cell, "ch = Chapter('a', mode, seed, device)"))) == ["mode", "seed", "device"]


@pytest.mark.parametrize("setup, message", [
    ("x = 1", "found 0"),
    ("a = Chapter('a', mode, seed, device)\nb = Chapter('b', mode, seed, device)", "found 2"),
    ("ch = Chapter('a', mode, seed, device, n=(n, at_least(N)))", "uses 'N'"),
    ("ch = Chapter('a', mode, seed, device, n=(n, __import__('os')))", "uses '__import__'"),
    ("ch = Chapter('a', mode, seed, device, n=(n, gdln.book.at_least(1)))", "uses"),
    ("ch = Chapter('a', mode, seed, device, n=(n, (1).real))", "attribute"),
    ("ch = Chapter('a', mode, seed, device, n=(n, 3))", "not a validator"),
])
def test_declared_validators_refuses_what_it_cannot_read_safely(setup, message):
    with pytest.raises(ValueError, match=message):
        declared_validators(md(setup))


@pytest.mark.parametrize("name", chapters())
def test_every_chapter_declares_a_validator_for_each_parameter(name):
    """Every chapter has one Chapter call whose validators cover its parameters cell and accept its defaults."""
    import jupytext

    from gdln.book.runner import declared_parameters

    source = (REPO_ROOT / "book" / f"{name}.md").read_text(encoding="utf-8")
    validators = declared_validators(source)
    defaults = declared_parameters(jupytext.reads(source, fmt="md:myst"))
    assert set(validators) == set(defaults), f"{name}: parameters cell {sorted(defaults)} vs Chapter {sorted(validators)}"
    check_values(defaults, validators)


# ---------------------------------------------------------------- the Chapter preamble

def test_chapter_validates_resolves_and_provides(tmp_path, monkeypatch):
    monkeypatch.setenv("GDLN_CLAIMS_DIR", str(tmp_path))
    threads = torch.get_num_threads()
    try:
        ch = Chapter("alpha", "quick", 3, "cpu", replicas=2, show=False,
                     n=(5, at_least(1)), rate=(0.25, positive()), opt=(None, optional(at_least(1))))
        assert ch.dev == torch.device("cpu") and ch.seeds == [3, 4] and ch.quick
        assert ch.params == {"n": 5, "rate": 0.25, "opt": None}
        assert ch.prov.chapter == "alpha" and ch.prov.device == "cpu" and list(ch.prov.seeds) == [3, 4]
        assert ch.claims.chapter == "alpha" and ch.claims.mode == "quick" and ch.claims.out_dir == tmp_path
        assert torch.get_num_threads() == 1
        assert ch.command() == "python -m gdln.book run alpha --mode quick --seed 3 --device cpu -p n 5 -p rate 0.25 -p opt null"
        box = ch._repr_html_()
        assert box.startswith('<details class="gdln-run"><summary>Run this chapter yourself</summary>')
        assert ch.command() in box and "admonition" not in box     # folded, not a second box at the top
        assert "Run this chapter" in repr(ch)
        ch.claims.check("alpha.x", evidence="empirical", ref="-", statement="-", measured=0.0, target=0.0, tolerance=0.0)
        assert "alpha.x" in repr(ch.finish()) and (tmp_path / "alpha.json").exists()
    finally:
        torch.set_num_threads(threads)


def test_chapter_rejects_bad_values_and_bad_declarations():
    with pytest.raises(ValueError, match=r"^parameter n=0 is invalid; expected an integer >= 1$"):
        Chapter("alpha", "quick", 0, "cpu", show=False, n=(0, at_least(1)))
    with pytest.raises(ValueError, match=r"parameter mode='fast'"):
        Chapter("alpha", "fast", 0, "cpu", show=False)
    with pytest.raises(ValueError, match=r"parameter device='gpu'"):
        Chapter("alpha", "quick", 0, "gpu", show=False)
    with pytest.raises(TypeError, match="must be given as"):
        Chapter("alpha", "quick", 0, "cpu", show=False, n=5)


def test_cpu_chapter_never_resolves_cuda(monkeypatch):
    monkeypatch.setattr(chapter_module, "resolve_device", lambda d: pytest.fail("resolved"))
    ch = Chapter("alpha", "quick", 0, "cuda", cpu="float64 checks", threads=None, show=False)
    assert ch.dev == torch.device("cpu") and "always computes on the CPU: float64 checks" in repr(ch)


@pytest.mark.parametrize("value", [3, 0.0002, 1e-05, 2.5, True, None, "text", "two words"])
def test_the_run_command_reads_back_the_same_values(value):
    import shlex
    assert parse_value(shlex.split(command_value(value))[0]) == value


def test_chapter_glue_stores_plain_numbers(monkeypatch):
    stored = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: stored.update({name: (value, display)}))
    ch = Chapter("alpha", "quick", 0, "cpu", threads=None, show=False)
    assert ch.glue("a", torch.tensor(0.5)) is None  # nothing to display at the end of a cell
    ch.glue("b", np.float64(0.25))
    assert stored == {"a": (0.5, False), "b": (0.25, False)} and type(stored["b"][0]) is float


def test_parameter_docs_read_meaning_and_papers_value_from_the_comments():
    from gdln.book.parameters import parameter_docs

    source = chapter_md_params("""mode = "quick"   # "quick" or "full"
seed = 0
device = "auto"
M = 7            # domains (Fig. 4: 7)
tau = 2.5        # time constant (Fig. 3 uses 2.5)
n_h = 64         # N_h (Fig. 5)
n_seeds = 0      # networks (0: 2 in quick mode, 5 in full mode; the paper used 10)
M_mnist = 0      # MNIST domains (0: 10 in quick mode; 40 and 100 in full mode, the paper's)
b0 = 0.05        # initial value""")
    docs = parameter_docs(source)
    assert list(docs) == ["mode", "seed", "device", "M", "tau", "n_h", "n_seeds", "M_mnist", "b0"]
    assert (docs["M"].meaning, docs["M"].paper, docs["M"].default) == ("domains", "7 (Fig. 4)", "7")
    assert (docs["tau"].meaning, docs["tau"].paper) == ("time constant", "2.5 (Fig. 3)")
    assert (docs["n_h"].meaning, docs["n_h"].paper) == ("N_h", "64 (Fig. 5)")
    assert docs["n_seeds"].paper == "10" and docs["n_seeds"].meaning.startswith("networks (0: 2 in quick mode")
    assert docs["M_mnist"].paper == "40 and 100"
    assert (docs["b0"].meaning, docs["b0"].paper) == ("initial value", "")
    assert docs["seed"].meaning and docs["mode"].meaning == '"quick" or "full"'


def chapter_md_params(params: str) -> str:
    """A MyST chapter whose parameters cell is ``params`` (and one other cell)."""
    return ("# T\n\n```{code-cell} ipython3\n:tags: [parameters]\n" + params + "\n```\n\n"
            "```{code-cell} ipython3\nx = 1  # not a parameter (Fig. 9: 3)\n```\n")
