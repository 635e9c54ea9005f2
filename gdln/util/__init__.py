"""Layer 0, utilities: devices and seeded generators, random orthogonal draws, atomic file writes.

May import: nothing from gdln.
"""

from gdln.util import device, files, random, version

__all__ = ["device", "files", "random", "version"]
