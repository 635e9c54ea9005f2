"""``python -m gdln.data``: fetch the official data files or list the folders searched."""

from gdln.data.loaders import main

raise SystemExit(main())
