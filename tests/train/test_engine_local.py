"""The local engine on the engine contract."""

from __future__ import annotations

import pytest

from dimrec.train.local.engine import LocalEngine
from train.engine_contract import EngineContract


class TestLocalEngine(EngineContract):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> LocalEngine:
        return LocalEngine(threads=2)
