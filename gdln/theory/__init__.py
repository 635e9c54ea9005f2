"""Layer 2, closed forms and reduced equations: what the reduction predicts.

- :mod:`~gdln.theory.dln`      one singular mode of a deep linear network: chains of any depth (Eqs. 21-22, the talk)
- :mod:`~gdln.theory.depth`    learning time against depth and initialisation (small, orthogonal, pretrained)
- :mod:`~gdln.theory.modes`    a full deep linear network as several chains (decoupled; silent alignment)
- :mod:`~gdln.theory.balanced` lambda-balanced two-layer networks: the exact QQ^T solution, rich to lazy
- :mod:`~gdln.theory.routing`  the routing network's reduced ODEs (Eqs. 13-15, 44-51)
- :mod:`~gdln.theory.sharing`  P-sharing schemes and the race between pathways (Eqs. 16-17, 52-56)

May import: :mod:`gdln.util`, :mod:`gdln.core`.
"""

from gdln.theory import balanced, depth, dln, modes, routing, sharing

__all__ = ['balanced', 'depth', 'dln', 'modes', 'routing', 'sharing']
