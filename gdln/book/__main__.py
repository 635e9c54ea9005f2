"""``python -m gdln.book``: see :mod:`gdln.book.cli`."""

import sys

from gdln.book.cli import main

sys.exit(main())
