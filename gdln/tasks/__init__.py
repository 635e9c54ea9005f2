"""Tasks of the paper as gdln data sets and graphs (one module per task)."""
