"""The public data sets by name: light, so the command line lists them in its help without
loading the evaluation stack (DuckDB, Arrow, SciPy)."""

DATASETS = ("movielens-100k", "movielens-small", "online-retail", "ga360-sample")
