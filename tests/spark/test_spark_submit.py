"""The ``spark-submit`` entry point, run as a real job: the package shipped as a zip,
``local[2]`` given to spark-submit, a tiny window prepared and trained on Spark."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("pyspark")

from dimrec import model, pipeline
from dimrec.config import Settings, load_settings
from train.engine_helpers import AS_OF, shop_events, write_events

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SRC = Path(__file__).resolve().parents[2] / "src"
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


def package_zip(dest: Path) -> Path:
    """src/dimrec as a zip for --py-files (what the README's zip command builds)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((SRC / "dimrec").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(SRC))
    return dest


def test_spark_submit_trains_the_same_model_as_local(settings: Settings, tmp_path: Path) -> None:
    if not SPARK_SUBMIT.exists():
        pytest.skip(f"{SPARK_SUBMIT} not found (pyspark installs it)")
    events = shop_events(300, 60, seed=31, n_days=2)
    job_data = tmp_path / "job"
    config = tmp_path / "dimrec.toml"
    config.write_text(
        f'[paths]\ndata = "{job_data}"\n\n[train]\nalgorithm = "exact"\nmin_items = 2\ntop_k = 5\n'
    )
    write_events(load_settings(config).paths.events_url(), events)
    archive = package_zip(tmp_path / "dimrec.zip")
    window = ["--days-init", "2", "--days-end", "1", "--as-of", AS_OF.isoformat()]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")},
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    command = [
        str(SPARK_SUBMIT),
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--py-files",
        str(archive),
        str(SRC / "dimrec" / "spark_job.py"),
        "-v",  # the driver's INFO records say where dimrec was loaded from
        "--config",
        str(config),
        "train",
        *window,
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr  # spark-submit merges the driver's stderr into stdout
    assert "driver started by spark-submit" in output
    assert f"from {archive}" in output  # the shipped package, not the checkout

    job_model = model.load_model(load_settings(config).paths.models_url())  # checksums verified
    assert job_model.manifest.engine == "spark"
    assert job_model.manifest.counts.pairs > 0
    write_events(settings.paths.events_url(), events)
    local = pipeline.train(
        settings,
        days_init=2,
        days_end=1,
        as_of=AS_OF,
        params=settings.train_params(algorithm="exact", min_items=2, top_k=5),
        engine="local",
    )
    assert job_model.neighbours().equals(local.neighbours())
    assert job_model.popularity().equals(local.popularity())
    assert job_model.manifest.files == local.manifest.files
