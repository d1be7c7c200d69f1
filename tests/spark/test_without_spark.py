"""Without pyspark installed, dimrec works and asking for Spark is a clear error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dimrec import pipeline
from dimrec.config import Settings
from dimrec.errors import EngineError


def test_prepare_on_spark_without_pyspark(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dimrec.train.spark", None)  # as if not installed
    with pytest.raises(EngineError, match=r"spark extra.*--engine local"):
        pipeline.prepare_days(settings, [], engine="spark")


def test_the_cli_and_the_pipeline_never_load_pyspark() -> None:
    """Importing every entry point (and the local engine) leaves pyspark unloaded."""
    code = (
        "import sys; import dimrec.cli, dimrec.pipeline, dimrec.spark_job, "
        "dimrec.train.local.engine, dimrec.serve.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
