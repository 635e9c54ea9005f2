"""gdln: Gated Deep Linear Networks (Saxe, Sodhani & Lewallen, ICML 2022).

Subpackages by layer; each imports only the layers below it (``tests/test_layers.py`` checks):

====================  ==================================================================================================
:mod:`gdln.util`      devices, seeded generators, random orthogonal draws, atomic files
:mod:`gdln.core`      any GDLN: graph, gated forward pass and loss (Eq. 1), path statistics (Eqs. 5-6),
                      path-form gradient (Eqs. 2-4), one integrator, the reduction (Eqs. 7-10)
:mod:`gdln.data`      MNIST and CIFAR-10 on disk
:mod:`gdln.theory`    closed forms and reduced equations (Eqs. 13-17, 21-22, 44-56)
:mod:`gdln.tasks`     the paper's tasks: XoR, context, routing, shared branches, image families
:mod:`gdln.engines`   batched trainers: routing network, route network on images, ReLU network
:mod:`gdln.figures`   one style, one implementation of each panel, the race explorer
:mod:`gdln.book`      claims, provenance, parameters, the chapter runner, the results archive, ``python -m gdln.book``
:mod:`gdln.sweep`     Section 5 sweeps in shards, as submitit jobs (``python -m gdln.sweep``; needs submitit)
====================  ==================================================================================================

The names below are the public API a chapter or a user needs most; everything else is one
``gdln.<layer>.<module>`` away.
"""

from gdln.util.version import __version__
from gdln import util, core, data, theory, tasks, engines, figures, book
from gdln.util.device import generator, resolve_device
from gdln.core.graph import Graph, Path, chain
from gdln.core.network import GatedData, forward, init_weights, loss
from gdln.core.statistics import PathStatistics, path_statistics
from gdln.core.dynamics import Trajectory, path_gradient, train
from gdln.core.reduction import decoupled_init, diagonalize, integrate_reduced, reduced_rhs
from gdln.theory.dln import dln_mode_trajectory
from gdln.figures.style import figure, legible

__all__ = [
    "__version__", "util", "core", "data", "theory", "tasks", "engines", "figures", "book",
    "generator", "resolve_device", "Graph", "Path", "chain", "GatedData", "forward", "init_weights", "loss",
    "PathStatistics", "path_statistics", "Trajectory", "path_gradient", "train", "decoupled_init", "diagonalize",
    "integrate_reduced", "reduced_rhs", "dln_mode_trajectory", "figure", "legible",
]
