"""The installed ``dimrec`` command, run in a fresh process as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_dimrec(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``dimrec *args`` in ``cwd``, its output as text. The environment is this process's
    without its ``DIMREC_*`` settings, 200 columns wide (tables print whole), then ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    clean.update({"COLUMNS": "200", **(env or {})})
    script = Path(sys.executable).with_name("dimrec")
    return subprocess.run(
        [str(script), *args], env=clean, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
