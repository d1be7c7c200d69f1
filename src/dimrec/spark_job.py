"""The ``spark-submit`` entry point: the ``dimrec`` command line with Spark as the engine.

Ship the package with the job and run any ``dimrec`` command; ``prepare`` and ``train`` then
run on the cluster that ``spark-submit`` was given (its ``--master`` and resources win over
``[spark]`` in ``dimrec.toml``)::

    cd src && zip -qr ../dist/dimrec.zip dimrec -x '*/__pycache__/*' && cd ..
    spark-submit --master yarn --py-files dist/dimrec.zip --files dimrec.toml \\
        src/dimrec/spark_job.py --config dimrec.toml train --days-init 30 --days-end 1

The driver needs dimrec's dependencies (``pip install dimrec[spark]`` or the wheel from
``uv build``); the executors need only PySpark: the work runs in the JVM, no Python UDFs.
An explicit ``--engine local`` on the command line still wins.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the ``dimrec`` command line in this driver, Spark being the default engine."""
    os.environ.setdefault("DIMREC_TRAIN__ENGINE", "spark")
    from dimrec.cli import main as cli_main

    sys.argv[0] = "dimrec"
    cli_main()


if __name__ == "__main__":
    # Run as a script, Python puts this file's folder (the package itself) first on the
    # path, where dimrec's modules would shadow top-level ones (``config``, ``model``...).
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    main()
