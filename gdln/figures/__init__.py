"""Layer 5, figures: one style module, one implementation of each panel type, the explorer widget.

- :mod:`~gdln.figures.style`     palette (Okabe-Ito), sizes, colour roles, provenance footer
- :mod:`~gdln.figures.graph`     architecture graphs (Fig. 2) and the XoR GDLN (Fig. 3)
- :mod:`~gdln.figures.panels`    route outputs, RSA, data sets, trained routes, sharing schemes, sweeps
- :mod:`~gdln.figures.explorer`  the interactive race explorer (Sec. 4.2)

May import: every layer below.
"""

from gdln.figures import explorer, graph, panels, style

__all__ = ['explorer', 'graph', 'panels', 'style']
