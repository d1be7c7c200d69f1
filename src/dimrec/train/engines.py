"""Training engines by name: ``local`` (this machine) or ``spark`` (PySpark).

The one module that knows every engine (the contract is :class:`dimrec.train.base.Engine`).
Each engine's module is imported only when asked for: the local one loads Numba and compiles
its kernels, the Spark one (``dimrec.train.spark``, which provides
``SparkEngine(settings.spark)``) loads pyspark; commands that do not train load neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

from dimrec.config import Settings
from dimrec.errors import EngineError, InvalidInputError
from dimrec.params import ENGINES
from dimrec.train.base import Engine
from dimrec.train.profiles import PreparedDay

#: ``prepare(settings, days, *, force, weights, progress)`` → each day's PreparedDay.
PrepareDays = Callable[..., Sequence[PreparedDay]]


def check_engine_name(name: str | None) -> None:
    """InvalidInputError for a name that is no engine (None: the settings' engine)."""
    if name is not None and name not in ENGINES:
        raise InvalidInputError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def open_engine(name: str, settings: Settings) -> Engine:
    """The engine called ``name``, configured from ``settings``."""
    check_engine_name(name)
    if name == "spark":
        engine: Engine = _spark("train with --engine local").SparkEngine(settings.spark)
        return engine
    from dimrec.train.local.engine import LocalEngine

    return LocalEngine(threads=settings.train.threads)


def spark_prepare() -> PrepareDays:
    """The Spark engine's prepare step (``prepare_days_spark``); EngineError without pyspark."""
    prepare: PrepareDays = _spark("prepare with --engine local").prepare_days_spark
    return prepare


def _spark(instead: str) -> ModuleType:
    """``dimrec.train.spark``, imported only when asked for (it loads pyspark)."""
    try:
        import dimrec.train.spark as spark
    except ModuleNotFoundError as exc:
        missing = exc.name or "dimrec.train.spark"
        raise EngineError(
            f"the spark engine is not available ({missing} is not installed); install "
            f"the spark extra (`uv sync --extra spark` or `pip install 'dimrec[spark]'`) "
            f"or {instead}"
        ) from None
    return spark
