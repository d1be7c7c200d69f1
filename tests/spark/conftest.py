"""One local Spark session for every Spark test (``local[2]``, a few shuffle partitions)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The test session's SparkSession; skipped without pyspark or Java (failed in CI)."""
    required = os.environ.get("DIMREC_REQUIRE_SERVICES") == "1"
    if shutil.which("java") is None:
        if required:
            pytest.fail("Java is not installed (make test installs it)")
        pytest.skip("Java is not installed; run `make test` to install it")
    pytest.importorskip("pyspark")
    from dimrec.config import SparkSettings
    from dimrec.train.spark.session import get_session

    settings = SparkSettings(
        master="local[2]",
        app_name="dimrec-tests",
        conf={"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"},
    )
    session, _ = get_session(settings)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark: Any) -> Any:
    from dimrec.train.spark import SparkEngine

    return SparkEngine(session=spark)
