"""gdln: Gated Deep Linear Networks (Saxe, Sodhani & Lewallen, ICML 2022).

Small modules, one job each:

- :mod:`gdln.graph`       architecture graphs, paths, P(e), T(v), path splits (Sec. 2, Fig. 2)
- :mod:`gdln.network`     gated forward pass and the L2 loss (Eq. 1)
- :mod:`gdln.statistics`  path correlation matrices (Eqs. 5-6)
- :mod:`gdln.dynamics`    path-form gradient flow (Eqs. 2-4) and its integration
- :mod:`gdln.reduction`   decoupled initialisation and reduced dynamics (Eqs. 7-10)
- :mod:`gdln.dln`         deep linear network closed forms (Eqs. 21-22)
- :mod:`gdln.claims`      the claims manifest written by each chapter
- :mod:`gdln.plotting`    one figure style and the provenance footer
"""

__version__ = "0.1.0"
