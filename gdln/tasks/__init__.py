"""Layer 3, the paper's tasks as data sets, gates and graphs.

- :mod:`~gdln.tasks.xor`      XoR and contextual classification (Sec. 3.2, Figs. 3 and 11)
- :mod:`~gdln.tasks.routing`  the routing task, trained routes, gating schemes, shared branches (Secs. 3.1, 4)
- :mod:`~gdln.tasks.images`   input and output domains over images: permutations, rotations, label maps (Sec. 5)
- :mod:`~gdln.tasks.resnet`   the CIFAR-10 ResNet-20 encoder and the CIFAR task family (Sec. 5)
- :mod:`~gdln.tasks.tree`     hierarchical data from a balanced binary tree and its exact SVD (the talk)
- :mod:`~gdln.tasks.panels`   the panels of Section 5 as the paper ran them (M, widths, seeds, grids, protocol)
- :mod:`~gdln.tasks.multiview` the multi-view task of the reader's summary, its view-gated GDLN and Eq. 10 for it

May import: :mod:`gdln.util`, :mod:`gdln.core`, :mod:`gdln.data`, :mod:`gdln.theory`.
"""

from gdln.tasks import images, multiview, panels, resnet, routing, tree, xor

__all__ = ['images', 'multiview', 'panels', 'resnet', 'routing', 'tree', 'xor']
