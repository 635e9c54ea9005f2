"""Layer 1, the GDLN itself, for any architecture graph (Secs. 2-3).

- :mod:`~gdln.core.graph`       architecture graphs, paths, P(e), T(v), path splits (Fig. 2)
- :mod:`~gdln.core.network`     gated forward pass and the L2 loss (Eq. 1)
- :mod:`~gdln.core.statistics`  path correlation matrices (Eqs. 5-6)
- :mod:`~gdln.core.dynamics`    path-form gradient (Eqs. 2-4) and training by gradient descent or ODE flow
- :mod:`~gdln.core.integrate`   the one integrator: time grids, gradient-descent schedules, adaptive ODE solves
- :mod:`~gdln.core.reduction`   decoupled initialisation and the reduced dynamics (Eqs. 7-10)

May import: :mod:`gdln.util`.
"""

from gdln.core import dynamics, graph, integrate, network, reduction, statistics

__all__ = ['dynamics', 'graph', 'integrate', 'network', 'reduction', 'statistics']
