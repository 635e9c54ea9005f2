"""Validation of a chapter's papermill parameters: named, reusable validators.

A chapter declares its parameters in one call (:class:`gdln.book.chapter.Chapter`), pairing every
value with a validator::

    ch = Chapter("xor", mode, seed, device, n_relu=(n_relu, at_least(1)), tau=(tau, positive()))

Every validator rejects booleans (``True`` is not a count), non-finite floats and values of the
wrong type, and raises ``ValueError(f"parameter {name}={value!r} is invalid; expected {what}")``.
A bound may name another parameter (``at_least(1, at_most="M")``): it is then read from the other
values checked together with it.

:func:`declared_validators` reads the validators of a chapter *statically*, from the source text of
``book/<name>.md`` (no kernel, nothing executed but the validator expressions themselves, evaluated
in a namespace that holds only the validators), so that the command line can reject a bad value
before a kernel starts; :func:`check_values` then checks a dict of values against them.
"""

from __future__ import annotations

import ast
import math
import numbers
import re
import io
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gdln.book.claims import MODES
from gdln.util.device import DEVICES

__all__ = ["Validator", "at_least", "non_negative_int", "positive", "in_range", "one_of", "optional", "zero_or",
           "device_name", "MODE", "SEED", "DEVICE", "VALIDATORS", "check_values", "declared_validators",
           "check_parameters", "ParameterDoc", "parameter_docs"]

class Validator:
    """A named test of one parameter value.

    ``test(value, values)`` returns whether ``value`` is valid (``values``: every parameter checked
    together with it, for bounds that name another parameter); ``what`` completes the sentence
    "expected ..." (it may contain ``{M}``-style fields, filled from ``values``).
    """

    def __init__(self, what: str, test: Callable[[Any, Mapping[str, Any]], bool], expr: str):
        self.what, self._test, self.expr = what, test, expr

    def expected(self, values: Mapping[str, Any] | None = None) -> str:
        """What a valid value looks like, with bounds that name other parameters filled in."""
        values = values or {}
        return re.sub(r"\{(\w+)\}", lambda m: f"{m.group(1)}={values[m.group(1)]!r}" if m.group(1) in values
                      else m.group(1), self.what)

    def check(self, name: str, value: Any, values: Mapping[str, Any] | None = None) -> Any:
        """Return ``value`` if valid, else raise ``ValueError`` naming ``name``, ``value`` and what was expected."""
        values = values or {}
        try:
            ok = bool(self._test(value, values))
        except (TypeError, ValueError, KeyError):
            ok = False
        if not ok:
            raise ValueError(f"parameter {name}={value!r} is invalid; expected {self.expected(values)}")
        return value

    __call__ = check

    def __repr__(self) -> str:
        return self.expr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Validator) and other.expr == self.expr

    def __hash__(self) -> int:
        return hash(self.expr)


# ---------------------------------------------------------------- building blocks

def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _bound(b: Any, values: Mapping[str, Any]) -> Any:
    """A bound's value: the number itself, or the value of the parameter it names."""
    if isinstance(b, str):
        v = values[b]  # KeyError (-> invalid) when the named parameter is not there
        if not _is_number(v):
            raise ValueError(b)
        return v
    return b


def _text(b: Any) -> str:
    return f"{{{b}}}" if isinstance(b, str) else repr(b)


def _args(*args: Any, **kwargs: Any) -> str:
    return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None])


def _check_bound(b: Any, name: str) -> None:
    if b is not None and not isinstance(b, str) and not _is_number(b):
        raise TypeError(f"{name} must be a finite number or the name of another parameter, got {b!r}")


# ---------------------------------------------------------------- the validators

def at_least(n: int, *, at_most: float | str | None = None, below: float | str | None = None) -> Validator:
    """An integer ``>= n`` (and ``<= at_most`` / ``< below`` when given; a bound may name another parameter)."""
    if not _is_int(n):
        raise TypeError(f"at_least needs an integer, got {n!r}")
    _check_bound(at_most, "at_most")
    _check_bound(below, "below")
    if at_most is not None and below is not None:
        raise TypeError("give at_most or below, not both")
    if at_most is not None:
        what = f"an integer in [{n}, {_text(at_most)}]"
    elif below is not None:
        what = f"an integer with {n} <= value < {_text(below)}"
    else:
        what = f"an integer >= {n}"

    def test(v: Any, values: Mapping[str, Any]) -> bool:
        return (_is_int(v) and v >= n and (at_most is None or v <= _bound(at_most, values))
                and (below is None or v < _bound(below, values)))

    return Validator(what, test, f"at_least({_args(n, at_most=at_most, below=below)})")


def non_negative_int() -> Validator:
    """An integer ``>= 0``."""
    return Validator("a non-negative integer", lambda v, _: _is_int(v) and v >= 0, "non_negative_int()")


def positive(*, at_most: float | str | None = None, below: float | str | None = None) -> Validator:
    """A finite number ``> 0`` (int or float; ``<= at_most`` / ``< below`` when given)."""
    _check_bound(at_most, "at_most")
    _check_bound(below, "below")
    if at_most is not None and below is not None:
        raise TypeError("give at_most or below, not both")
    what = ("a positive number" + (f" <= {_text(at_most)}" if at_most is not None else "")
            + (f" < {_text(below)}" if below is not None else ""))

    def test(v: Any, values: Mapping[str, Any]) -> bool:
        return (_is_number(v) and v > 0 and (at_most is None or v <= _bound(at_most, values))
                and (below is None or v < _bound(below, values)))

    return Validator(what, test, f"positive({_args(at_most=at_most, below=below)})")


def in_range(lo: float | str, hi: float | str) -> Validator:
    """A finite number (int or float) in the closed interval ``[lo, hi]``."""
    _check_bound(lo, "lo")
    _check_bound(hi, "hi")
    if lo is None or hi is None:
        raise TypeError("in_range needs both bounds")

    def test(v: Any, values: Mapping[str, Any]) -> bool:
        return _is_number(v) and _bound(lo, values) <= v <= _bound(hi, values)

    return Validator(f"a number in [{_text(lo)}, {_text(hi)}]", test, f"in_range({_args(lo, hi)})")


def one_of(*choices: Any) -> Validator:
    """One of ``choices`` (compared by type and value: ``one_of(1, 2)`` rejects ``True`` and ``1.0``)."""
    if not choices:
        raise TypeError("one_of needs at least one choice")

    def test(v: Any, _: Mapping[str, Any]) -> bool:
        return any(type(v) is type(c) and v == c for c in choices)

    return Validator(f"one of {choices!r}", test, f"one_of({_args(*choices)})")


def optional(validator: Validator) -> Validator:
    """``None`` (the chapter then picks a default) or a value that ``validator`` accepts."""
    if not isinstance(validator, Validator):
        raise TypeError(f"optional needs a validator, got {validator!r}")
    return Validator(f"None or {validator.what}", lambda v, values: v is None or validator._test(v, values),
                     f"optional({validator.expr})")


def zero_or(validator: Validator) -> Validator:
    """``0`` (the chapter then picks its mode's default) or a value that ``validator`` accepts."""
    if not isinstance(validator, Validator):
        raise TypeError(f"zero_or needs a validator, got {validator!r}")
    return Validator(f"0 (the mode's default) or {validator.what}",
                     lambda v, values: (_is_int(v) and v == 0) or validator._test(v, values),
                     f"zero_or({validator.expr})")


def device_name() -> Validator:
    """A torch device name: ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``."""
    return Validator(f"one of {DEVICES} or 'cuda:N'",
                     lambda v, _: isinstance(v, str) and (v in DEVICES or re.fullmatch(r"cuda:\d+", v) is not None),
                     "device_name()")


#: The three parameters every chapter has.
MODE, SEED, DEVICE = one_of(*MODES), non_negative_int(), device_name()

#: Everything a chapter's validator expression may use (and nothing else).
VALIDATORS: dict[str, Callable[..., Validator]] = {
    f.__name__: f for f in (at_least, non_negative_int, positive, in_range, one_of, optional, zero_or, device_name)}


# ---------------------------------------------------------------- checking

def check_values(values: Mapping[str, Any], validators: Mapping[str, Validator]) -> None:
    """Check every value that has a validator (in the order of ``validators``); raise the first ``ValueError``.

    A value without a validator is not checked here (the runner decides whether a chapter has that
    parameter); bounds that name another parameter read it from ``values``.
    """
    for name, validator in validators.items():
        if name in values:
            validator.check(name, values[name], values)


def check_parameters(mode: Any, seed: Any, device: Any, **extra: tuple[Any, Validator]) -> None:
    """``check_values`` for mode, seed, device and ``name=(value, validator)`` pairs."""
    values = {"mode": mode, "seed": seed, "device": device, **{k: v for k, (v, _) in extra.items()}}
    check_values(values, {"mode": MODE, "seed": SEED, "device": DEVICE,
                          **{k: validator for k, (_, validator) in extra.items()}})


# ---------------------------------------------------------------- static reading of a chapter

_FENCE = re.compile(r"^(`{3,}|~{3,})\{code-cell\}[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


def _cells(source: str) -> list[tuple[str, str]]:
    """``(options, code)`` of every ``{code-cell}`` of a MyST markdown chapter (options as written)."""
    cells = []
    for match in _FENCE.finditer(source):
        body = match.group(2)
        lines = body.split("\n")
        n = 0
        if lines and lines[0].strip() == "---":  # a YAML block of cell options
            n = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), -1) + 1
        else:
            while n < len(lines) and re.match(r"^:\w[\w-]*:", lines[n]):  # short-form ``:tags: [...]`` options
                n += 1
        cells.append(("\n".join(lines[:n]), "\n".join(lines[n:])))
    return cells


def _code_cells(source: str) -> list[str]:
    """The code of every ``{code-cell}`` of a MyST markdown chapter (cell options stripped)."""
    return [code for _, code in _cells(source)]


def _is_chapter_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Name) and f.id == "Chapter") or (isinstance(f, ast.Attribute) and f.attr == "Chapter")


def _evaluate(node: ast.expr, name: str) -> Validator:
    # validator expressions are literal calls (at_least(1), positive(at_most=0.1)): evaluate them in a
    # namespace that holds the validators only, with no builtins
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in VALIDATORS:
            raise ValueError(f"the validator of parameter {name!r} uses {sub.id!r}; only literal arguments "
                             f"and the validators {sorted(VALIDATORS)} are allowed")
        if isinstance(sub, ast.Attribute):
            raise ValueError(f"the validator of parameter {name!r} uses an attribute ({ast.unparse(sub)})")
    value = eval(compile(ast.Expression(node), f"<validator of {name}>", "eval"),  # noqa: S307 (restricted)
                 {"__builtins__": {}}, dict(VALIDATORS))
    if not isinstance(value, Validator):
        raise ValueError(f"the validator of parameter {name!r} is not a validator: {ast.unparse(node)}")
    return value


def declared_validators(source: str, *, required: bool = True) -> dict[str, Validator]:
    """Name -> validator for every parameter of the chapter whose MyST source text is ``source``.

    Finds the ``Chapter(...)`` call in the chapter's code cells (with :mod:`ast`; nothing is run),
    returns ``mode``, ``seed`` and ``device`` (always validated the same way) and every keyword
    argument written ``name=(value, validator)``, its validator expression evaluated with only the
    validators in scope. Raises ``ValueError`` when there is more than one such call, or none and
    ``required`` (with ``required=False`` a chapter without a preamble gets mode, seed and device only).
    """
    calls = []
    for code in _code_cells(source):
        try:
            tree = ast.parse(code)
        except SyntaxError:  # e.g. a cell with IPython magics: it cannot hold the preamble
            continue
        calls += [n for n in ast.walk(tree) if _is_chapter_call(n)]
    if not calls and not required:
        return {"mode": MODE, "seed": SEED, "device": DEVICE}
    if len(calls) != 1:
        raise ValueError(f"expected one Chapter(...) call in the chapter's code cells, found {len(calls)}")
    out: dict[str, Validator] = {"mode": MODE, "seed": SEED, "device": DEVICE}
    for kw in calls[0].keywords:
        if kw.arg is None or not (isinstance(kw.value, ast.Tuple) and len(kw.value.elts) == 2):
            continue  # a Chapter option (replicas=..., threads=...), not a parameter
        out[kw.arg] = _evaluate(kw.value.elts[1], kw.arg)
    return out


# ---------------------------------------------------------------- what each parameter means

@dataclass(frozen=True)
class ParameterDoc:
    """One line of a chapter's parameters cell: the default as written, what it means, the paper's value.

    ``paper`` is the paper's value with where it is given (``"7 (Fig. 4)"``), or ``""`` when the comment names
    none; ``meaning`` is the comment without that part.
    """

    name: str
    default: str
    meaning: str
    paper: str


#: What the three common parameters mean, when their line has no comment.
COMMON_MEANINGS = {"mode": '"quick" (small problems, minutes on a CPU) or "full" (the larger problems the page describes)',
                   "seed": "first seed of the random number generators (a chapter with several seeds uses seed, seed + 1, ...)",
                   "device": '"auto" (a GPU when there is one), "cpu", "cuda" or "cuda:N"'}

# How the comments of the parameters cells give the paper's value, tried in order: (pattern, value, where)
_PAPER = [
    (re.compile(r"\s*\((Fig\.[^:()]*):\s*([^()]+)\)"), 2, 1),                 # (Fig. 4: 7)
    (re.compile(r"\s*\(?(Fig\.\s*[\w.-]+) uses ([^\s,;()]+)\)?"), 2, 1),        # (Fig. 5 uses 10), Fig. 3 uses 2.5
    (re.compile(r";?\s*the paper used ([^\s,;()]+)"), 1, 0),                     # the paper used 10
    (re.compile(r"([^;:(]+?) in full mode, the paper's"), 1, 0),                 # 40 and 100 in full mode, the paper's
]
_SAME = re.compile(r"\s*(?:\((Fig\.\s*[\w.-]+)\)|,?\s*(?:as in|the network of) (Fig\.\s*[\w.-]+))")


def _paper_value(comment: str, default: str) -> tuple[str, str]:
    """``(meaning, paper)`` from one comment of a parameters cell (see :data:`_PAPER`)."""
    for pattern, value, where in _PAPER:
        m = pattern.search(comment)
        if m:
            paper = m.group(value).strip() + (f" ({m.group(where).strip()})" if where else "")
            if where:  # the whole "(Fig. 4: 7)" is the paper's part; otherwise the sentence stays as written
                comment = (comment[:m.start()] + comment[m.end():]).strip(" ,;")
            return comment, paper
    m = _SAME.search(comment)
    if m:  # "N_h (Fig. 5)": the page's default is the paper's value
        return (comment[:m.start()] + comment[m.end():]).strip(" ,;") or comment, f"{default} ({m.group(1) or m.group(2)})"
    return comment, ""


def _parameters_code(source: str) -> str:
    """The code of the cell tagged ``parameters`` ("" when there is none)."""
    return next((code for options, code in _cells(source) if re.search(r"\bparameters\b", options)), "")


def parameter_docs(source: str) -> dict[str, ParameterDoc]:
    """Name -> :class:`ParameterDoc` for every assignment of the parameters cell of the MyST chapter ``source``:
    its default as written, and the meaning and the paper's value read from its comment (nothing is run)."""
    code = _parameters_code(source)
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(code).readline) if tok.type == tokenize.COMMENT}
    docs = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, default = node.targets[0].id, ast.get_source_segment(code, node.value) or ""
            comment = comments.get(node.lineno, "") or COMMON_MEANINGS.get(name, "")
            meaning, paper = _paper_value(comment, default)
            docs[name] = ParameterDoc(name, default, meaning, paper)
    return docs
