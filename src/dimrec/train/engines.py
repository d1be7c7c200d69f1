"""Training engines by name: ``local`` (this machine) or ``spark`` (PySpark).

Each engine's module is imported only when asked for: the local one loads Numba and compiles
its kernels, the Spark one (``dimrec.train.spark``, which provides
``SparkEngine(settings.spark)``) loads pyspark; commands that do not train load neither.
"""

from __future__ import annotations

import importlib

from dimrec.config import Settings
from dimrec.errors import EngineError, InvalidInputError
from dimrec.train.engine import Engine

ENGINES = ("local", "spark")


def open_engine(name: str, settings: Settings) -> Engine:
    """The engine called ``name``, configured from ``settings``."""
    if name == "local":
        from dimrec.train.local_engine import LocalEngine

        return LocalEngine(threads=settings.train.threads)
    if name == "spark":
        try:
            module = importlib.import_module("dimrec.train.spark")
        except ModuleNotFoundError as exc:
            missing = exc.name or "dimrec.train.spark"
            raise EngineError(
                f"the spark engine is not available ({missing} is not installed); install "
                "the spark extra (`uv sync --extra spark` or `pip install 'dimrec[spark]'`) "
                "or train with --engine local"
            ) from None
        engine: Engine = module.SparkEngine(settings.spark)
        return engine
    raise InvalidInputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
