"""Layer 4, batched trainers: many networks (seeds x sweep points) in one tensor program.

- :mod:`~gdln.engines.routing`   the routing network of Secs. 4.1-4.3 (any pathway gating)
- :mod:`~gdln.engines.race`      P-sharing, K and sigma_0 sweeps and the combined race on that engine
- :mod:`~gdln.engines.routenet`  the route network on images (Sec. 5, App. D)
- :mod:`~gdln.engines.relu`      the two-layer ReLU network (Sec. 3.2): gradient descent, and SGD, momentum, cross-entropy
- :mod:`~gdln.engines.multiview` the multi-view task learned by a view-gated GDLN and a ReLU network (practice chapter)
- :mod:`~gdln.engines.metrics`   measurements on trained routing networks (route errors, RSA)
- :mod:`~gdln.engines.alignment` Eq. 15 and Eqs. 16-17 from random weights: predicted vs fitted initial conditions

May import: every layer below (util, core, data, theory, tasks).
"""

from gdln.engines import alignment, metrics, multiview, race, relu, routenet, routing

__all__ = ['alignment', 'metrics', 'multiview', 'race', 'relu', 'routenet', 'routing']
