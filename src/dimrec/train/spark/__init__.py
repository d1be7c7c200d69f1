"""The Spark engine: training (and preparing profiles) with PySpark.

The only part of dimrec that imports pyspark. ``SparkEngine(settings.spark)`` follows the
engine contract of ``dimrec.train.base``; :func:`prepare_days_spark` computes daily
profiles on Spark; ``dimrec/spark_job.py`` is the ``spark-submit`` entry point.
"""

from dimrec.train.spark.engine import SparkEngine
from dimrec.train.spark.prepare import prepare_days_spark

__all__ = ["SparkEngine", "prepare_days_spark"]
