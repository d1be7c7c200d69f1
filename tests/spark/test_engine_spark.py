"""The Spark engine on the engine contract (tests/train/engine_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyspark")

from train.engine_contract import EngineContract

pytestmark = pytest.mark.spark


class TestSparkEngine(EngineContract):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, spark_engine: Any) -> Any:
        return spark_engine
