"""The SparkSession of dimrec, and reading Parquet files into it.

A session is configured from :class:`~dimrec.config.SparkSettings`: the master URL (default
``local[*]``), the application name and any extra ``spark.*`` settings, over defaults that
suit a laptop (few shuffle partitions, no UI, Arrow transfers, UTC). Under ``spark-submit``
the driver's JVM already runs with the master and resources given to ``spark-submit``: those
win, and only the runtime SQL settings are applied.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import dimrec
from dimrec import __version__
from dimrec.config import SparkSettings
from dimrec.errors import EngineError
from dimrec.fsio import read_parquet, url_to_fs

log = logging.getLogger(__name__)

#: Settings every dimrec job needs, whatever the master: Arrow between JVM and Python,
#: timestamps in UTC, and sort-based aggregation of input already sorted by its keys (the
#: pair sums of sparse data; see ``similarity.py``).
SQL_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.replaceHashWithSortAgg": "true",
}

#: Defaults for a ``local[...]`` master only (a cluster keeps its own).
LOCAL_CONF: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}

_LOCAL_MASTER = re.compile(r"^local(?:\[(\*|\d+)(?:,\d+)?\])?$")

#: fsspec protocols that Spark (Hadoop) reads itself, with the scheme Hadoop knows them by.
_HADOOP_SCHEMES = {
    "file": "file",
    "local": "file",
    "gs": "gs",
    "gcs": "gs",
    "s3": "s3a",
    "s3a": "s3a",
    "hdfs": "hdfs",
    "abfs": "abfs",
    "abfss": "abfss",
}


def under_spark_submit() -> bool:
    """Whether this Python process is a driver started by ``spark-submit`` (or ``pyspark``)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def local_cores(master: str) -> int | None:
    """The cores of a ``local[N]`` / ``local[*]`` / ``local`` master; None for a cluster."""
    match = _LOCAL_MASTER.match(master.strip())
    if not match:
        return None
    cores = match.group(1)
    if cores is None:
        return 1
    if cores == "*":
        return os.cpu_count() or 1
    return int(cores)


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """Every ``spark.*`` setting the session is built with: defaults, then ``settings.conf``."""
    conf = dict(SQL_CONF)
    cores = local_cores(settings.master)
    if cores is not None:
        conf.update(LOCAL_CONF)
        # Two partitions a core keep both busy without the 200 tiny tasks of the default.
        conf["spark.sql.shuffle.partitions"] = str(max(2, 2 * cores))
        conf["spark.default.parallelism"] = str(max(2, 2 * cores))
    conf.update(settings.conf)
    return conf


def get_session(settings: SparkSettings) -> tuple[SparkSession, bool]:
    """The active session, or a new one from ``settings``; and whether it was created here.

    Raises EngineError when Spark cannot start (no Java, a bad master URL).
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        _apply_sql_conf(active, settings.conf)
        return active, False
    builder = SparkSession.builder.appName(settings.app_name)
    if under_spark_submit():
        log.info("driver started by spark-submit; dimrec %s from %s", __version__, dimrec.__file__)
        conf: Mapping[str, str] = {**SQL_CONF, **settings.conf}
    else:
        builder = builder.master(settings.master)
        conf = session_conf(settings)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j / Java start-up errors have no common base class
        raise EngineError(
            f"Spark did not start with master {settings.master!r}: {exc}; check that Java "
            "17+ is installed (`java -version`) and the [spark] settings"
        ) from None
    _apply_sql_conf(session, settings.conf)
    session.sparkContext.setLogLevel("WARN")
    log.info(
        "Spark %s session %s on %s",
        session.version,
        session.sparkContext.applicationId,
        session.sparkContext.master,
    )
    return session, True


def _apply_sql_conf(session: SparkSession, extra: Mapping[str, str]) -> None:
    """Set the runtime SQL settings dimrec relies on (and the user's SQL ones)."""
    for key, value in {**SQL_CONF, **extra}.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)


def hadoop_path(url: str) -> str | None:
    """``url`` as a path Spark reads itself, or None when only fsspec can (``memory://``)."""
    fs, path = url_to_fs(url)
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    for protocol in protocols:
        scheme = _HADOOP_SCHEMES.get(protocol)
        if scheme == "file":
            return "file://" + path if path.startswith("/") else path
        if scheme is not None:
            return f"{scheme}://{path}"
    return None


def read_parquet_files(
    session: SparkSession,
    urls: Sequence[str],
    schema: pa.Schema,
    *,
    factors: Sequence[float] | None = None,
) -> DataFrame:
    """One DataFrame of the Parquet files at ``urls``, with the columns of ``schema`` (and
    a ``factor`` column holding each file's entry of ``factors``, when given).

    Files on a filesystem Spark reads are scanned by the executors; others (``memory://``,
    used in tests) are read here and handed over through Arrow.
    """
    names = schema.names
    frames: list[DataFrame] = []
    native = [(url, hadoop_path(url)) for url in urls]
    spark_paths = [path for _, path in native if path is not None]
    if factors is None and spark_paths:
        frames.append(session.read.parquet(*spark_paths).select(*names))
    for n, (url, path) in enumerate(native):
        if path is not None and factors is None:
            continue
        if path is not None:
            frame = session.read.parquet(path).select(*names)
        else:
            fs, file = url_to_fs(url)
            frame = session.createDataFrame(read_parquet(fs, file, schema=schema).select(names))
        if factors is not None:
            frame = frame.withColumn("factor", F.lit(float(factors[n])))
        frames.append(frame)
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame
