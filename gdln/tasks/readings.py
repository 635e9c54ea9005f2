"""Readings of what the paper leaves open, and the authors' notebook settings as data (issue 20).

The paper (Sec. 4, Fig. 4; Sec. 4.3, Fig. 6) names its settings in words: "small random weights ...
scaling Xavier initialization weights by 0.2", "lambda = .02", "random matrices with singular value
sigma_0". Where the words leave a choice, the book picks one reading; this module holds the other
readings side by side with the book's, and the settings of the authors' public notebooks
(repository facebookresearch/gated-dln, ``notebooks/Gated_DLN_solution_verification_figure.ipynb``
for Fig. 4 and ``notebooks/Gated_DLN_vs_ntk_figure.ipynb`` for Fig. 6), written as facts read from
those notebooks (cell numbers count code and markdown cells from 0). No code of theirs is used.

Facts read from the notebooks
-----------------------------
- Network (both, cell 1): ``M = 7`` domains, ``N_h = 64``, 4 input units, 7 output units, no biases.
- Inputs and targets (both, cell 2): every input domain shows the items as the columns of the 4 x 4
  identity (one-hot items); the targets are the book's Fig. 4c magnitudes: root 6, branch 4, leaf 3.
- Initialisation (Fig. 4 cell 3, Fig. 6 cells 3, 4, 12): every block (input blocks, hidden matrix,
  output blocks) is a random orthogonal matrix times the gain ``sigma_0`` (all singular values
  ``sigma_0``); ``sigma_0 = 0.2`` for Fig. 4.
- Trained routes (cell 1, gate mode "4_plus_minus_mod"; cell 3): input domain ``i`` is trained with the
  output domains ``(i + o) mod M`` for offsets ``o = -1, 0, 1, 2``, with no shuffle of the columns
  (28 of 49 routes, "Percentage trained: 0.571" in Fig. 4 cell 13's output).
- Loss (cell 1: squared error with no reduction; cell 3): for each trained route the mean over the
  ``n x N_y`` entries (items x features), then the *sum* over trained routes.
- Step and horizon: full-batch SGD, no momentum, ``lr = 0.02`` for 500 epochs (Fig. 4 and Fig. 6a);
  Fig. 6b-d's sweep (Fig. 6 cell 12) trains six scales ``sigma_0 = linspace(0.2, 2.5, 6)``, one network
  each, for 700 epochs at ``lr = 0.006 / sigma_0^(1/3)``; its error per route is ``||Y - yhat||_F^2 / 2``
  (summed over items and features), averaged over trained and over untrained routes (cell 14).
- Theory curve (Fig. 4 cell 6, Fig. 6 cell 6): Eqs. 44-46 in the notebook's units, stepped with
  ``dt = 3.5 lr`` per epoch, from ``sigma_0 / 2.5`` (the decoupled run of Fig. 4 cell 4 also starts
  from ``0.2 / 2.5``).

What they mean in the book's units
----------------------------------
The book's loss is Eq. 1 averaged over trained routes and items, ``L = 1/(2 n |T|) sum_routes sum_mu
||y - yhat||^2``, with ``t = step x lr`` (units of tau). The notebooks' loss is
``L_nb = sum_routes 1/(n N_y) sum_mu ||y - yhat||^2 = (2 |T| / N_y) L`` (:func:`loss_factor`: 8 for
Fig. 4), so their ``lr`` is a step ``(2|T|/N_y) lr`` on the book's loss (:func:`eq1_step`: 0.16 for
``lr = 0.02``) and 500 epochs are ``t = 80`` tau (:func:`eq1_time`). Their theory's ``3.5`` is not a
fitted constant: with their singular values of ``Y^T X`` (``n`` times the book's ``s``) and prefactors
``K/M``, ``K/M^2``, the factor that makes their Eqs. 44-46 the book's is ``2 M^2 / (n N_y)``
(:func:`theory_dt_factor`), which is 3.5 for ``M = 7``, ``n = 4``, ``N_y = 7``. Their ``1/2.5 = 0.4``
on the initial scale is a choice, close to the ``1/sqrt(M) = 0.38`` that the routing chapter finds for
the fitted scale.

Equivalences. The one-hot items differ from the book's random orthonormal items by a rotation of the
input space, and both initialisations are invariant in distribution under it (Gaussian entries; Haar
orthonormal columns), so the two data sets give the same distribution of trajectories. The band of
trained routes is the book's pattern ``(i + k) mod M, k < K`` with its columns permuted (a cyclic
shift), and the output domains share their targets and draw their blocks independently, so this too
is a relabelling of the output domains: the distribution of every route-averaged quantity is the same.
What does change results is the initialisation (:data:`READINGS`) and the step and horizon.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gdln.tasks.routing import DEFAULT_MAGNITUDES, RoutingTask, hierarchical_dataset

__all__ = ["REPO", "FIG4_NOTEBOOK", "FIG6_NOTEBOOK", "Reading", "READINGS", "readings_html", "NotebookSettings",
           "FIG4", "FIG6", "band_routes", "notebook_task", "loss_factor", "eq1_step", "eq1_time", "notebook_units",
           "theory_dt_factor", "fig6_scales", "fig6_lr", "claims_by_reading_html"]

REPO = "facebookresearch/gated-dln"
FIG4_NOTEBOOK = "notebooks/Gated_DLN_solution_verification_figure.ipynb"
FIG6_NOTEBOOK = "notebooks/Gated_DLN_vs_ntk_figure.ipynb"


@dataclass(frozen=True)
class Reading:
    """One open setting: the reading a page uses, the alternative, and where each comes from."""

    setting: str
    used: str
    used_source: str
    alternative: str
    alternative_source: str
    pages: tuple[str, ...]


READINGS: tuple[Reading, ...] = (
    Reading("initialisation ('small random weights', sigma_0)",
            "routing: Xavier-normal x sigma_0, N(0, sigma_0^2 2/(fan-in + fan-out)); initialization: orthogonal of gain sigma_0",
            "Sec. 4 ('scaling Xavier initialization weights by 0.2'); Sec. 4.3 ('random matrices with singular value sigma_0')",
            "routing: orthogonal of gain sigma_0 (every singular value sigma_0); initialization: Xavier-normal x sigma_0",
            f"{FIG4_NOTEBOOK} cell 3 and {FIG6_NOTEBOOK} cells 3, 4, 12 (orthogonal of gain sigma_0 for every block)",
            ("routing", "initialization")),
    Reading("lambda and time",
            "lambda is the step on Eq. 1 averaged over trained routes and items; t = step x lambda (tau = 1)",
            "the book's reading of Sec. 4 ('lambda = .02'); Eq. 1",
            "lr is a step on the sum over trained routes of the mean over items and features: "
            "(2|T|/N_y) lambda on Eq. 1 ({fig4_step:g} for lr = 0.02); 500 epochs = t = {fig4_t:g}",
            f"{FIG4_NOTEBOOK} cells 1, 3; {FIG6_NOTEBOOK} cells 1, 3, 12", ("routing", "initialization")),
    Reading("inputs and targets",
            "random orthonormal item vectors (seeded), the same on every domain; targets root 6, branch 4, leaf 3",
            "Sec. 4 ('the same for all pathways'; no values given); magnitudes from the notebooks",
            "one-hot items (the 4 x 4 identity) on every domain; the same targets",
            f"{FIG4_NOTEBOOK} cell 2; {FIG6_NOTEBOOK} cell 2", ("routing", "initialization")),
    Reading("trained routes",
            "input i with outputs (i + k) mod M, k < K, then the output columns shuffled (seeded)",
            f"the authors' MNIST/CIFAR code in {REPO} (the paper: 'K of the M output domains')",
            "input i with outputs (i + o) mod M, o = -1, 0, 1, 2, no shuffle",
            f"{FIG4_NOTEBOOK} cells 1, 3 (gate mode '4_plus_minus_mod'); {FIG6_NOTEBOOK} the same",
            ("routing", "initialization")),
    Reading("horizon",
            "routing: t = 50 (quick) / 100 (full); initialization: 2,000 (quick) / 3,000 (full) steps of 0.15/max(1, sigma_0^4)",
            "the book's choice (the paper gives no horizon)",
            "500 epochs at lr 0.02 (t = {fig4_t:g} on Eq. 1); Fig. 6 sweep: 700 epochs at 0.006/sigma_0^(1/3) "
            "(t = {fig6_t:g} sigma_0^(-1/3) on Eq. 1)",
            f"{FIG4_NOTEBOOK} cell 1; {FIG6_NOTEBOOK} cell 12", ("routing", "initialization")),
)


def readings_html(page: str) -> str:
    """The readings table of ``page`` ("routing" or "initialization") as an HTML table."""
    rows = [r for r in READINGS if page in r.pages]
    if not rows:
        raise ValueError(f"page={page!r} has no readings; expected one of routing, initialization")
    values = notebook_units()
    head = ("<tr><th>open setting</th><th>reading this page uses</th><th>its source</th>"
            "<th>alternative reading</th><th>its source</th></tr>")
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.format(**values))}</td>"
                                         for c in (r.setting, r.used, r.used_source, r.alternative, r.alternative_source))
                   + "</tr>" for r in rows)
    return f'<table class="gdln-readings">{head}{body}</table>'


@dataclass(frozen=True)
class NotebookSettings:
    """The settings of one of the authors' notebooks (see the module docstring for the cells)."""

    notebook: str
    M: int
    offsets: tuple[int, ...]
    n_h: int
    scheme: str
    epochs: int
    reps: int
    sigma0: float | None = None     # Fig. 4: one scale
    lr: float | None = None         # Fig. 4: one step (the notebook's units)

    @property
    def K(self) -> int:
        return len(self.offsets)


FIG4 = NotebookSettings(FIG4_NOTEBOOK, M=7, offsets=(-1, 0, 1, 2), n_h=64, scheme="orthogonal", epochs=500, reps=10,
                        sigma0=0.2, lr=0.02)
FIG6 = NotebookSettings(FIG6_NOTEBOOK, M=7, offsets=(-1, 0, 1, 2), n_h=64, scheme="orthogonal", epochs=700, reps=1)


def fig6_scales() -> np.ndarray:
    """The six initial scales of the notebook's Fig. 6 sweep: ``linspace(0.2, 2.5, 6)``."""
    return np.linspace(0.2, 2.5, 6)


def fig6_lr(sigma0) -> np.ndarray:
    """The notebook's step for scale ``sigma0`` in the Fig. 6 sweep, in its own units: ``0.006 / sigma0^(1/3)``."""
    s = np.asarray(sigma0, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"sigma0={sigma0!r} is invalid; expected positive scales")
    return 0.006 / s ** (1.0 / 3.0)


def band_routes(M: int, offsets: Sequence[int]) -> Tensor:
    """``(M, M)`` boolean: input ``i`` trained with outputs ``(i + o) mod M`` for each offset (no shuffle)."""
    if isinstance(M, bool) or not isinstance(M, int) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a positive integer")
    offs = [int(o) for o in offsets]
    if len({o % M for o in offs}) != len(offs):
        raise ValueError(f"offsets={tuple(offsets)!r} are invalid for M={M}: two of them name the same route")
    T = torch.zeros(M, M, dtype=torch.bool)
    for i in range(M):
        for o in offs:
            T[i, (i + o) % M] = True
    return T


def notebook_task(settings: NotebookSettings = FIG4, *, magnitudes: Sequence[float] = DEFAULT_MAGNITUDES,
                  dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> RoutingTask:
    """The notebooks' routing task: one-hot items on every input domain, the Fig. 4c targets, the band of routes."""
    _, Y0 = hierarchical_dataset(0, n_x=4, magnitudes=magnitudes)
    M = settings.M
    X = torch.eye(4, dtype=torch.float64).unsqueeze(0).repeat(M, 1, 1)
    Y = Y0.unsqueeze(0).repeat(M, 1, 1)
    return RoutingTask(X.to(dtype=dtype, device=device), Y.to(dtype=dtype, device=device),
                       band_routes(M, settings.offsets).to(device))


def loss_factor(task: RoutingTask) -> float:
    """``L_notebook / L_Eq.1 = 2 |T| / N_y``: the notebooks' loss (sum over trained routes of the mean over
    items and features) over the book's (Eq. 1 averaged over trained routes and items, with its 1/2)."""
    T = task.trained
    if T.dim() != 2:
        raise ValueError("loss_factor needs one (M, M) pattern of trained routes")
    return 2.0 * float(T.sum()) / task.n_y


def eq1_step(lr: float, task: RoutingTask) -> float:
    """The step on the book's Eq. 1 loss that a step ``lr`` on the notebooks' loss is (same weights' update)."""
    return float(lr) * loss_factor(task)


def eq1_time(epochs: int, lr: float, task: RoutingTask) -> float:
    """The training time ``t`` (units of tau, the book's) of ``epochs`` full-batch steps of ``lr`` on the notebooks' loss."""
    return int(epochs) * eq1_step(lr, task)


def notebook_units() -> dict[str, float]:
    """The notebooks' step and horizons in the book's units, computed (the readings table shows them):
    ``fig4_factor`` (:func:`loss_factor`), ``fig4_step`` (:func:`eq1_step` of lr 0.02), ``fig4_t`` (500 epochs),
    ``fig6_t`` (700 epochs of the Fig. 6 sweep at ``sigma_0 = 1``; ``t`` scales as ``sigma_0^(-1/3)``)."""
    t4, t6 = notebook_task(FIG4), notebook_task(FIG6)
    return dict(fig4_factor=loss_factor(t4), fig4_step=eq1_step(FIG4.lr, t4), fig4_t=eq1_time(FIG4.epochs, FIG4.lr, t4),
                fig6_t=eq1_time(FIG6.epochs, float(fig6_lr(1.0)), t6))


def theory_dt_factor(M: int, n: int, n_y: int) -> float:
    """``2 M^2 / (n N_y)``: the time per epoch, in units of ``lr``, of Eqs. 44-46 written as the notebooks write them.

    Their equations read ``b2' = (K/M) b1 b3 (s_nb - b1 b2 b3)`` (and ``K/M^2`` for the domain blocks) with
    ``s_nb`` the singular values of ``Y^T X``, ``n`` times the book's ``s`` (Eq. 11 without 1/KM). The
    book's Eq. 44 in its units, ``tau B2' = B1 B3 (s - d B1 B2 B3)`` with ``d = 1/n``, run for one epoch of
    ``eq1_step = 2 K M lr / N_y``, equals theirs run for ``dt`` when ``dt K n / M = 2 K M lr / N_y``.
    """
    for name, v in (("M", M), ("n", n), ("n_y", n_y)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; expected a positive integer")
    return 2.0 * M * M / (n * n_y)


def claims_by_reading_html(rows, readings: Sequence[str]) -> str:
    """A small table: claim, its value under each reading, and the readings under which it holds.

    ``rows``: ``(label, {reading: value})`` pairs. A value is what :meth:`gdln.book.claims.Claims.check` returned
    (shown with its status), a number (a measured value that no claim judges there, shown as such), a string
    (shown as it is) or ``None`` (not measured there). A claim holds under a reading when its status there is
    ``"pass"``.
    """

    def cell(c) -> str:
        if c is None:
            return "&mdash;"
        if isinstance(c, str):
            return html.escape(c)
        if isinstance(c, (int, float, np.floating)):
            return f"{float(c):.4g} (not judged)"
        return f"{c.measured:.4g} ({html.escape(c.status)})"

    head = "<tr><th>claim</th>" + "".join(f"<th>{html.escape(r)}</th>" for r in readings) + "<th>holds under</th></tr>"
    body = []
    for label, by in rows:
        cells = [f"<td>{cell(by.get(r))}</td>" for r in readings]
        held = [r for r in readings if getattr(by.get(r), "status", None) == "pass"]
        body.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}<td>{html.escape(', '.join(held) or 'none')}</td></tr>")
    return f'<table class="gdln-readings">{head}{"".join(body)}</table>'
