"""The embedded DuckDB warehouse on the warehouse contract, for GA360, GA4 and flat logs."""

from __future__ import annotations

import pytest
from warehouse_contract import Opener, WarehouseContract, source  # noqa: F401 (a fixture)

from dimrec.export import open_warehouse


class TestDuckDBWarehouse(WarehouseContract):
    @pytest.fixture
    def warehouse_of(self) -> Opener:
        return open_warehouse
