"""Interactive explorers: the neural race (Sec. 4.2, Eqs. 13-17: sliders for M, K, sigma_0, P) and one
singular mode of a deep linear network (the talk: sliders for the depth D, the initial weight b0 and the
input variance lambda).

:func:`race_figure` draws the reduced-ODE predictions for one setting (pure, testable);
:func:`race_explorer` wraps it in ipywidgets so that moving a slider redraws at once in a live kernel.
Both explorers show their figure as a PNG in an ``Image`` widget that already holds the figure for the
initial values, so a notebook executed headless (papermill) stores that figure in its widget state and
the static HTML shows it; no output is captured by an ``Output`` widget, which intermittently stalled
papermill's client on such cells.

What is drawn, for ``M`` domains with ``K`` trained outputs per input, initial singular value
``sigma_0`` in every layer, and a block scheme with ``P`` routes per pathway (``sqrt(P) <= K``):

- left: the hidden-layer singular value ``B2(t)`` of the largest data mode for three competitors
  (:func:`gdln.theory.sharing.race_rates`): a dedicated route pathway, the ``P`` block, and the fully
  shared pathway. With ``K = M`` these are Eqs. 16-17 at ``P = 1``, ``P`` and ``M**2``.
- right: the time for ``B2`` to rise half-way, against ``P``, for every allowed ``P`` (block schemes),
  with the shared pathway marked: the race is won by the fastest, the most shared.

:func:`chain_figure` / :func:`chain_explorer`: a balanced chain of ``D`` weights, each starting at ``b0``,
on a mode of strength ``s`` and input variance ``lambda`` (``tau da/dt = D a^(2 - 2/D) (s - lambda a)``,
:mod:`gdln.theory.dln`):

- left: ``a(t)`` as a fraction of its final value ``s/lambda``, for the chosen ``D`` and for ``D = 1, 2``
  from the same ``b0`` (exponential, sigmoid), on a logarithmic time axis;
- right: the time to half of the final value against depth (:func:`gdln.theory.depth.chain_learning_time`,
  exact quadrature), the chosen depth marked: from ``b0 < 1`` deeper chains wait longer, from ``b0 = 1`` they
  do not.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
from PIL import Image

from gdln.figures.panels import block_size_ok
from gdln.figures.style import PALETTE, PX_PER_IN, figure, legible
from gdln.tasks.routing import routing_task, task_modes
from gdln.theory.depth import chain_learning_time
from gdln.theory.sharing import (
    allowed_P,
    block_size,
    half_time,
    integrate_pathways,
    race_rates,
)

__all__ = ["top_mode", "race_curves", "race_figure", "race_explorer", "chain_half_time", "chain_curves",
           "chain_figure", "chain_explorer", "Control", "FrameExplorer", "frame_explorer", "race_frames",
           "chain_frames", "RACE_GRID", "CHAIN_GRID"]


@lru_cache(maxsize=None)
def top_mode() -> tuple[float, float]:
    """``(S, D)``: the largest singular value and the input variance of one route of the hierarchical
    4-item data set of Fig. 4c (:func:`gdln.tasks.routing.task_modes`), ``S = 3.40``, ``D = 1/4``: the
    default mode of the explorer. Computed on first use, not at import."""
    m = task_modes(routing_task(1, 1))
    return float(m.s[0]), float(m.d[0])


def _mode(S: float | None, D: float | None) -> tuple[float, float]:
    S0, D0 = top_mode() if S is None or D is None else (S, D)
    return (S0 if S is None else S), (D0 if D is None else D)


def _check(M, K, sigma0, P):
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or M < 1:
        raise ValueError(f"M={M!r} is invalid; expected a positive integer")
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or not 1 <= K <= M:
        raise ValueError(f"K={K!r} is invalid; expected an integer 1 <= K <= M={M}")
    if not (isinstance(sigma0, (int, float, np.floating)) and 0 < sigma0 < 10):
        raise ValueError(f"sigma0={sigma0!r} is invalid; expected a number in (0, 10)")
    block_size(M, P)


def race_curves(M: int, K: int, sigma0: float, P: int, *, S: float | None = None, D: float | None = None,
                n_t: int = 4000) -> dict:
    """The numbers behind :func:`race_figure`: times, ``B2`` curves and half-times.

    Returns ``{"t", "labels", "B2" (n_t, 3), "t_half" (3,), "P_grid", "t_half_grid"}``; the
    competitors are (dedicated, block P, shared), see :func:`gdln.theory.sharing.race_rates`.
    """
    _check(M, K, sigma0, P)
    S, D = _mode(S, D)
    s = block_size(M, P)
    if s > K:
        raise ValueError(f"P={P} needs sqrt(P)={s} <= K={K}: a block's routes must all be trained")
    rates = race_rates(M, K, P)
    # time scale of the slowest competitor (dedicated): ~ 1/(c S b0) with c = 1/(K M)
    t_max = 4.0 * K * M / (S * sigma0) * (1.0 + np.log1p(1.0 / sigma0))
    t = np.linspace(0.0, t_max, n_t)
    tr = integrate_pathways([S], [D], list(rates.values()), sigma0, t=t, rtol=1e-7, atol=1e-10)
    B2 = tr.B[:, :, 1, 0]
    grid = [p for p in allowed_P(M) if int(round(p ** 0.5)) <= K]
    grid_rates = [race_rates(M, K, p)["block"] for p in grid] + [rates["shared"]]
    trg = integrate_pathways([S], [D], grid_rates, sigma0, t=t, rtol=1e-7, atol=1e-10)
    return {"t": t, "labels": ("dedicated (P = 1)", f"block (P = {P})", f"shared (all {K * M} routes)"),
            "B2": B2, "t_half": half_time(t, B2), "P_grid": np.array(grid + [K * M]),
            "t_half_grid": half_time(t, trg.B[:, :, 1, 0])}


def race_figure(M: int = 10, K: int = 10, sigma0: float = 0.2, P: int = 4, *, S: float | None = None,
                D: float | None = None):
    """Figure of the reduced-ODE race for one setting (see the module docstring); ``S``, ``D``: the
    data mode, default :func:`top_mode`. Returns the figure."""
    c = race_curves(M, K, sigma0, P, S=S, D=D)
    fig, ax = figure(2, 1, height=3.6)
    colours = (PALETTE["red"], PALETTE["orange"], PALETTE["blue"])
    for q in range(3):
        ax[0, 0].plot(c["t"], c["B2"][:, q], color=colours[q], label=c["labels"][q])
        if np.isfinite(c["t_half"][q]):
            ax[0, 0].axvline(c["t_half"][q], color=colours[q], lw=0.8, ls=":")
    ax[0, 0].set_xlim(0, 2.5 * np.nanmax(c["t_half"]))
    ax[0, 0].set_xlabel("training time t (units of tau)")
    ax[0, 0].set_ylabel("hidden singular value B2 (top mode)")
    ax[0, 0].set_title(f"M = {M}, K = {K}, sigma_0 = {sigma0:g}")
    ax[0, 0].legend(loc="lower right")
    pg, th = c["P_grid"], c["t_half_grid"]
    ax[0, 1].loglog(pg[:-1], th[:-1], "o-", color=PALETTE["orange"], label="block schemes (all routes trained)")
    ax[0, 1].loglog(pg[-1:], th[-1:], "s", ms=8, color=PALETTE["blue"], label="shared pathway")
    ax[0, 1].set_xlabel("routes per hidden pathway P")
    ax[0, 1].set_ylabel("time to half of final B2 (units of tau)")
    sp = c["t_half"][0] / c["t_half"][2]
    ax[0, 1].set_title(f"shared learns {sp:.3g}x faster than dedicated")
    ax[0, 1].legend(loc="upper right")   # the points fall from upper left to lower right
    legible(fig)
    return fig


def race_explorer(M: int = 10, K: int = 10, sigma0: float = 0.2, P: int = 4, *, S: float | None = None,
                  D: float | None = None, M_range: Sequence[int] = (2, 20)):
    """ipywidgets explorer: sliders for M, K, sigma_0 and a P menu (allowed values for M, sqrt(P) <= K).

    Returns a ``VBox`` (controls over an ``Image`` that holds the initial figure at once; see the module
    docstring for why an ``Image`` and not an ``Output``).
    """
    import ipywidgets as w

    _check(M, K, sigma0, P)
    S, D = _mode(S, D)
    mw = w.IntSlider(value=M, min=M_range[0], max=M_range[1], description="M")
    kw = w.IntSlider(value=K, min=1, max=M, description="K")
    sw = w.FloatLogSlider(value=sigma0, base=10, min=-3, max=0, step=0.05, description="sigma_0",
                          readout_format=".3f")
    pw = w.Dropdown(options=[p for p in allowed_P(M) if p <= K * K], value=P, description="P")

    def _sync(*_):  # keep K <= M and P allowed for (M, K)
        kw.max = mw.value
        opts = [p for p in allowed_P(mw.value) if p <= kw.value ** 2]
        keep = pw.value if pw.value in opts else opts[-1]
        pw.options = opts
        pw.value = keep

    mw.observe(_sync, "value")
    kw.observe(_sync, "value")

    img = w.Image(value=_png(race_figure(M, K, sigma0, P, S=S, D=D)), format="png")

    def _redraw(_change=None):  # registered after _sync, so it sees a consistent (M, K, P)
        M_, K_, s_, P_ = mw.value, kw.value, sw.value, pw.value
        if P_ is None or block_size_ok(M_, P_) is False or round(P_ ** 0.5) > K_:
            return
        img.value = _png(race_figure(M_, K_, s_, P_, S=S, D=D))

    for control in (mw, kw, sw, pw):
        control.observe(_redraw, "value")
    return w.VBox([w.HBox([mw, kw]), w.HBox([sw, pw]), img])


# ---------------------------------------------------------------- one mode of a deep linear network

def _check_chain(D, b0, lam, s):
    if isinstance(D, bool) or not isinstance(D, (int, np.integer)) or not 1 <= D <= 64:
        raise ValueError(f"D={D!r} is invalid; expected an integer depth 1 <= D <= 64")
    for name, v in (("b0", b0), ("lam", lam), ("s", s)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} is invalid; expected a positive finite number")
    if b0 ** D >= s / (2 * lam):
        raise ValueError(f"b0={b0!r} is invalid for D={D}, s={s!r}, lam={lam!r}: the chain starts at "
                         f"b0^D = {b0 ** D:.3g}, past half its final value s/lam; expected b0^D < {s / (2 * lam):.3g}")


@lru_cache(maxsize=8192)
def _chain_time(D: int, b0: float, lam: float, s: float, frac: float, tau: float = 1.0) -> float:
    # With a' = lam a the chain is tau' da'/dt = a'^(2 - 2/D) (s - a'), tau' = tau lam^(1 - 2/D) / D: the
    # equation of gdln.theory.depth.chain_learning_time, which computes the time to reach frac * s.
    return chain_learning_time(D, s, lam * b0 ** D, tau=tau * lam ** (1 - 2 / D) / D, frac=frac)


def chain_half_time(D: int, b0: float, lam: float = 1.0, s: float = 4.0, tau: float = 1.0) -> float:
    """Time for a balanced chain from ``b_k = b0`` to reach half of ``s/lam``
    (``tau da/dt = D a^(2 - 2/D) (s - lam a)``), by exact quadrature (:func:`gdln.theory.depth.chain_learning_time`)."""
    _check_chain(D, b0, lam, s)
    return _chain_time(D, b0, lam, s, 0.5, tau)


def chain_curves(D: int, b0: float, lam: float = 1.0, s: float = 4.0, *, depths: Sequence[int] = tuple(range(1, 11)),
                 n_a: int = 120) -> dict:
    """The numbers behind :func:`chain_figure`: ``{"curves": [(t, a / (s/lam)) for D = 1, 2 and the chosen D]``
    (``None`` where the chain starts past half of ``s/lam``), ``"labels", "depths", "t_half" (len(depths),),
    "t_half_D"}``. Each curve is exact: the time to reach each strength of a grid, by quadrature (integrating the
    flow itself past its saturation is stiff)."""
    _check_chain(D, b0, lam, s)
    depths = [d for d in depths if b0 ** d < s / (2 * lam)]
    t_half = np.array([chain_half_time(d, b0, lam, s) for d in depths])
    curves = []
    for d in (1, 2, D):
        f0 = lam * b0 ** d / s
        if f0 >= 0.5:
            curves.append(None)
            continue
        fr = 1 - np.geomspace(1 - f0, 1e-3, n_a)[1:]          # fractions of s/lam, dense near the start and the end
        fr = np.concatenate([np.geomspace(f0, fr[0], 20)[1:-1], fr]) if fr[0] > f0 * 1.01 else fr
        t = np.array([_chain_time(d, b0, lam, s, float(f)) for f in fr])
        curves.append((np.concatenate([[0.0], t]), np.concatenate([[f0], fr])))
    return {"curves": curves, "labels": ("D = 1", "D = 2", f"D = {D}"), "depths": np.array(depths),
            "t_half": t_half, "t_half_D": chain_half_time(D, b0, lam, s)}


def chain_figure(D: int = 4, b0: float = 0.3, lam: float = 1.0, s: float = 4.0):
    """Figure of one mode's trajectory for a chain of depth ``D`` (see the module docstring). Returns it."""
    c = chain_curves(D, b0, lam, s)
    fig, ax = figure(2, 1, height=3.6)
    colours = (PALETTE["orange"], PALETTE["green"], PALETTE["blue"])
    for q, cur in enumerate(c["curves"]):
        if cur is not None:
            ax[0, 0].semilogx(cur[0][1:], cur[1][1:], color=colours[q], lw=2.0 if q == 2 else 1.2, label=c["labels"][q])
    ax[0, 0].axvline(c["t_half_D"], color=colours[2], lw=0.8, ls=":")
    ax[0, 0].set(xlabel="training time t (units of tau)", ylabel="mode strength a / (s / lambda)", ylim=(0, 1.05),
                 title=f"b0 = {b0:g}, lambda = {lam:g}, s = {s:g}")
    ax[0, 0].legend(loc="upper left")
    ax[0, 1].semilogy(c["depths"], c["t_half"], "o-", color=PALETTE["blue"], label="balanced chain (exact)")
    ax[0, 1].semilogy([D], [c["t_half_D"]], "s", ms=9, mfc="none", color=PALETTE["red"], label=f"D = {D}")
    ax[0, 1].set(xlabel="depth D (weights in the chain)", ylabel="time to half of s / lambda (units of tau)",
                 title="learning time against depth")
    ax[0, 1].legend(loc="best")
    legible(fig)
    return fig


def _png(fig) -> bytes:
    """The figure as PNG bytes (and closed): what the explorer's image widget shows."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def chain_explorer(D: int = 4, b0: float = 0.3, lam: float = 1.0, s: float = 4.0):
    """ipywidgets explorer: sliders for the depth D, the initial weight b0 and the input variance lambda.

    Returns a ``VBox`` (the controls and a note, over an ``Image`` that holds the initial figure at once).
    Moving a slider redraws the image; a setting whose chain starts past half its final value
    (``b0^D >= s / (2 lambda)``) keeps the last figure and says why. The figure is a PNG in an ``Image``
    widget, as in :func:`race_explorer`.
    """
    import ipywidgets as w

    _check_chain(D, b0, lam, s)
    dw = w.IntSlider(value=D, min=1, max=10, description="D")
    bw = w.FloatLogSlider(value=b0, base=10, min=-1, max=0, step=0.02, description="b0", readout_format=".3f")
    lw = w.FloatLogSlider(value=lam, base=10, min=-0.6, max=0.6, step=0.02, description="lambda",
                          readout_format=".2f")
    note = w.HTML("")
    img = w.Image(value=_png(chain_figure(D, b0, lam, s)), format="png")

    def _redraw(_change=None):
        D_, b0_, lam_ = dw.value, bw.value, lw.value
        if b0_ ** D_ >= s / (2 * lam_):
            note.value = f"b0^D = {b0_ ** D_:.3g} is already past half of s/lambda = {s / lam_:.3g}: nothing to learn"
            return
        note.value = ""
        img.value = _png(chain_figure(D_, b0_, lam_, s))

    for control in (dw, bw, lw):
        control.observe(_redraw, "value")
    return w.VBox([w.HBox([dw, bw, lw, note]), img])


# ---------------------------------------------------------------- explorers that work on a static page

class Control:
    """One slider of a :class:`FrameExplorer`: parameter ``name``, its ``label`` and the ``values`` it steps through."""

    def __init__(self, name: str, values: Sequence[Any], label: str | None = None):
        if not values:
            raise ValueError(f"control {name!r} needs at least one value")
        self.name, self.values, self.label = name, list(values), label or name


def _frame_png(fig, dpi: int = int(1.25 * PX_PER_IN), colours: int = 128) -> bytes:
    """``fig`` as a small PNG (and closed): 1.25x the CSS resolution, quantised to ``colours`` colours."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colours)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


class FrameExplorer:
    """Sliders that switch between figures computed in advance: an explorer that works on a static page.

    ``frames`` maps a tuple of values (one per control, in order) to PNG bytes; only the settings that are
    valid have a frame (e.g. ``K <= M``). In the page, each slider steps through the values that have a
    frame given the controls before it (so K's slider never passes M), and moving one moves a later
    control to its nearest valid value when the old one no longer has a frame. The HTML is one block:
    the frames as data URIs, a few lines of inline JavaScript, nothing fetched.
    """

    def __init__(self, controls: Sequence[Control], frames: Mapping[tuple, bytes], initial: Mapping[str, Any], *,
                 alt: Callable[[Mapping[str, Any]], str], title: str = ""):
        self.controls, self.frames, self.title = list(controls), dict(frames), title
        self.initial = tuple(initial[c.name] for c in self.controls)
        if self.initial not in self.frames:
            raise ValueError(f"the initial setting {dict(initial)} has no frame")
        self.alts = {k: alt(dict(zip(self.names, k))) for k in self.frames}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.controls]

    def settings(self) -> list[dict[str, Any]]:
        """Every setting that has a frame, as ``{name: value}``."""
        return [dict(zip(self.names, k)) for k in self.frames]

    def data(self) -> dict[str, Any]:
        """What the page's script reads: controls, and per frame its value indices, image and alt text."""
        index = [{v: i for i, v in enumerate(c.values)} for c in self.controls]
        return {
            "controls": [{"name": c.name, "label": c.label, "values": c.values} for c in self.controls],
            "initial": [index[q][v] for q, v in enumerate(self.initial)],
            "frames": [{"at": [index[q][v] for q, v in enumerate(k)], "alt": self.alts[k],
                        "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}
                       for k, png in self.frames.items()],
        }

    def _repr_html_(self) -> str:
        e = html.escape
        uid = "gdln-explorer-" + uuid.uuid5(uuid.NAMESPACE_URL, self.title + repr(sorted(self.frames))).hex[:10]
        first = self.frames[self.initial]
        rows = "".join(
            f'<label class="gdln-explorer-control"><span>{e(c.label)}</span>'
            f'<input type="range" min="0" max="{len(c.values) - 1}" step="1" value="0" data-q="{q}" '
            f'aria-label="{e(c.label)}"><output>{e(str(v))}</output></label>'
            for q, (c, v) in enumerate(zip(self.controls, self.initial)))
        data = json.dumps(self.data(), separators=(",", ":")).replace("</", "<\\/")
        return (
            f'<div class="gdln-explorer" id="{uid}">'
            + (f'<p class="gdln-explorer-title">{e(self.title)}</p>' if self.title else "")
            + f'<div class="gdln-explorer-controls">{rows}</div>'
            f'<img class="gdln-explorer-frame" alt="{e(self.alts[self.initial])}" '
            f'src="data:image/png;base64,{base64.b64encode(first).decode("ascii")}">'
            f'<script type="application/json" class="gdln-explorer-data">{data}</script>'
            f"<script>{_EXPLORER_JS.replace('UID', uid)}</script></div>")


#: The page's script: each slider runs over the values that have a frame given the sliders before it.
_EXPLORER_JS = """(function(){var root=document.getElementById("UID");if(!root)return;
var d=JSON.parse(root.querySelector(".gdln-explorer-data").textContent),n=d.controls.length,cur=d.initial.slice();
var ins=root.querySelectorAll("input[type=range]"),outs=root.querySelectorAll("output"),img=root.querySelector("img");
function ok(q,v){return d.frames.some(function(f){for(var r=0;r<q;r++){if(f.at[r]!==cur[r])return false;}return f.at[q]===v;});}
function opts(q){var o=[];for(var v=0;v<d.controls[q].values.length;v++){if(ok(q,v))o.push(v);}return o;}
function sync(from){for(var q=from;q<n;q++){var o=opts(q);if(o.indexOf(cur[q])<0){var best=o[0];
o.forEach(function(v){if(Math.abs(v-cur[q])<Math.abs(best-cur[q]))best=v;});cur[q]=best;}
ins[q].max=o.length-1;ins[q].value=o.indexOf(cur[q]);ins[q].disabled=o.length<2;ins[q]._o=o;
outs[q].textContent=d.controls[q].values[cur[q]];}
var f=d.frames.find(function(f){return f.at.every(function(v,r){return v===cur[r];});});
if(f){img.src=f.src;img.alt=f.alt;}}
ins.forEach(function(el,q){el.addEventListener("input",function(){cur[q]=el._o[+el.value];sync(q+1);
outs[q].textContent=d.controls[q].values[cur[q]];});});sync(0);})();"""


def frame_explorer(controls: Sequence[Control], figure_of: Callable[..., Any], initial: Mapping[str, Any], *,
                   valid: Callable[..., bool] = lambda **_: True, alt: Callable[[Mapping[str, Any]], str],
                   title: str = "") -> FrameExplorer:
    """A :class:`FrameExplorer` over every valid combination of the controls' values: ``figure_of(**setting)``
    draws one frame (computed now, when the chapter runs). The initial value of each control is added to its
    values when they lack it (a page built with other parameters starts at its own setting)."""
    missing = [c.name for c in controls if c.name not in initial]
    if missing:
        raise ValueError(f"initial={dict(initial)!r} is invalid; expected a value for every control, missing {missing}")
    if not valid(**{c.name: initial[c.name] for c in controls}):
        raise ValueError(f"initial={dict(initial)!r} is invalid; expected a setting the explorer allows (checked "
                         "before any frame is drawn)")
    controls = [Control(c.name, sorted(set(c.values) | {initial[c.name]}), c.label) for c in controls]
    frames, layout = {}, None
    for combo in itertools.product(*(c.values for c in controls)):
        setting = dict(zip((c.name for c in controls), combo))
        if valid(**setting):
            fig = figure_of(**setting)
            layout = _same_layout(fig, layout)
            frames[combo] = _frame_png(fig)
    return FrameExplorer(controls, frames, initial, alt=alt, title=title)


def _same_layout(fig, layout):
    """Lay ``fig`` out as the first frame was (its axes' positions; the layout engine runs once, for the first
    frame: a third of a frame's drawing time), so that the panels do not jump between frames. Returns the layout."""
    if layout is None or len(layout) != len(fig.axes):
        fig.canvas.draw()
        return [ax.get_position() for ax in fig.axes]
    fig.set_layout_engine("none")
    for ax, box in zip(fig.axes, layout):
        ax.set_position(box)
    return layout


#: The race explorer's grid on a static page: M, K (<= M), P (an allowed block, sqrt(P) <= K), sigma_0.
RACE_GRID = {"M": (4, 6, 10), "K": (1, 2, 4, 6, 10), "P": (1, 4, 9, 16, 25, 36, 100), "sigma0": (0.05, 0.2)}


def _race_valid(M: int, K: int, P: int, sigma0: float) -> bool:
    return K <= M and block_size_ok(M, P) and round(P ** 0.5) <= K


def race_frames(M: int = 10, K: int = 10, sigma0: float = 0.2, P: int = 4, *, S: float | None = None,
                D: float | None = None, grid: Mapping[str, Sequence] = RACE_GRID) -> FrameExplorer:
    """The race explorer for a static page: :func:`race_figure` at every valid setting of ``grid`` (which
    must hold the initial ``M, K, P, sigma0``)."""
    S, D = _mode(S, D)
    controls = [Control("M", grid["M"], "M (domains)"), Control("K", grid["K"], "K (trained outputs per input)"),
                Control("P", grid["P"], "P (routes per pathway)"), Control("sigma0", grid["sigma0"], "sigma_0")]
    return frame_explorer(
        controls, lambda M, K, P, sigma0: race_figure(M, K, sigma0, P, S=S, D=D),
        {"M": M, "K": K, "P": P, "sigma0": sigma0}, valid=_race_valid, title="The neural race (reduced ODEs)",
        alt=lambda v: (f"Two panels for M = {v['M']:g}, K = {v['K']:g}, P = {v['P']:g}, sigma_0 = {v['sigma0']:g}: left, the "
                       "hidden singular value B2 against time for a dedicated, a P-block and the shared pathway; "
                       "right, the time to half of B2 against P on log axes."))


#: The depth explorer's grid on a static page: the depth D, the initial weight b0 and the input variance lambda.
CHAIN_GRID = {"D": (1, 2, 4, 10), "b0": (0.1, 0.3, 1.0), "lam": (0.5, 1.0, 2.0)}


def chain_frames(D: int = 4, b0: float = 0.3, lam: float = 1.0, s: float = 4.0, *,
                 grid: Mapping[str, Sequence] = CHAIN_GRID) -> FrameExplorer:
    """The depth explorer for a static page: :func:`chain_figure` at every setting of ``grid`` whose chain
    starts below half its final value (``b0^D < s / (2 lambda)``)."""
    controls = [Control("D", grid["D"], "D (depth)"), Control("b0", grid["b0"], "b0 (initial weight)"),
                Control("lam", grid["lam"], "lambda (input variance)")]
    return frame_explorer(
        controls, lambda D, b0, lam: chain_figure(D, b0, lam, s), {"D": D, "b0": b0, "lam": lam},
        valid=lambda D, b0, lam: b0 ** D < s / (2 * lam), title="One mode of a deep linear network",
        alt=lambda v: (f"Two panels for D = {v['D']:g}, b0 = {v['b0']:g}, lambda = {v['lam']:g}: left, the mode strength "
                       "against time (log axis) for depths 1, 2 and D; right, the time to half of the final "
                       "strength against depth, with D marked."))
