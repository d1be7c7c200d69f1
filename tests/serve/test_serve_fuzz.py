"""Fuzz the API from its own OpenAPI schema with schemathesis 4 against a real server on loopback.

Runs the ``schemathesis run`` command (its examples, coverage and fuzzing phases) with every
built-in check: no 5xx; every status code, content type, header and body as documented; what
the schema calls invalid is rejected with a 4xx; what it calls valid is accepted.

One documented exception: ``GET /make_recommendation`` limits the input items of browsed, basket
and purchased *together* (``serve.max_input_items``), which OpenAPI cannot state across three
parameters, so there a schema-valid request may also get its documented 422.

(The schemathesis pytest plugin's ``from_fixture`` does not run on pytest 9, hence the command.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from serve_helpers import live_server, put_version, served_version, wait_for

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.serve.app import create_app

pytestmark = pytest.mark.slow

LISTS = {
    "a": [("b", 0.75), ("c", 0.5)],
    "b": [("a", 0.75), ("c", 0.375)],
    "c": [("a", 0.5), ("b", 0.375)],
}
CONFIG = """
[[operations]]
include-name = "GET /make_recommendation"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
"""


def test_api_conforms_to_its_own_schema(
    serve_settings: Settings, store: Store, tmp_path: Path
) -> None:
    put_version(store, "v1", LISTS, [("a", 3.0), ("z", 1.0)])
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with live_server(create_app(serve_settings, store)) as url:
        with httpx.Client(base_url=url) as client:
            wait_for(lambda: served_version(client) == "v1", what="v1 to be served")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(config),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "60",
                "--workers",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "6 selected / 6 total" in run.stdout
