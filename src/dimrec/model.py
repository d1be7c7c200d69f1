"""A model version folder: neighbours.parquet, popularity.parquet and manifest.json."""
