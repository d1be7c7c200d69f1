"""``dimrec serve`` as a user runs it: a subprocess with two workers over a SQLite store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from serve_helpers import put_version, wait_for

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store
from ports import free_port

pytestmark = pytest.mark.slow  # starts the CLI and two worker processes

LISTS = {"a": [("b", 0.5), ("c", 0.25)], "b": [("a", 0.5)], "c": [("a", 0.25)]}


def dimrec(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from dimrec.cli import main; main()", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture
def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DIMREC_STORE__URL": settings.store.url,
        "DIMREC_SERVE__REFRESH_SECONDS": "0.1",
        "DIMREC_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The SQLite store of ``settings``, holding version v1."""
    opened = open_store(settings.store.url)
    put_version(opened, "v1", LISTS, [("a", 1.0)])
    yield opened
    opened.close()


@pytest.fixture
def two_workers(
    environment: dict[str, str],
    store: Store,  # noqa: ARG001 (it publishes the model the workers serve)
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = dimrec("serve", "--port", str(port), "--workers", "2", env=environment)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_two_workers_follow_the_store_and_share_metrics(
    store: Store, two_workers: tuple[str, subprocess.Popen[str]]
) -> None:
    url, process = two_workers

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz").status_code == 200
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            return False

    wait_for(ready, timeout=60, what="dimrec serve to be ready")
    with httpx.Client(base_url=url) as client:
        # requests spread over both workers; each loaded v1 before accepting connections
        for _ in range(20):
            answer = client.get("/make_recommendation", params={"browsed": "a"})
            assert answer.json()["results"] == [
                {"item": "b", "score": 0.25},
                {"item": "c", "score": 0.125},
            ]
        put_version(store, "v2", {"a": [("z", 0.5)], "z": [("a", 0.5)]})
        for _ in range(20):  # every worker follows
            wait_for(
                lambda: (
                    client.get("/make_recommendation", params={"browsed": "a"}).json()["version"]
                    == "v2"
                ),
                what="the workers to follow v2",
            )
        too_large = client.post("/recommendations", content=b" " * (2 * 1024 * 1024))
        assert too_large.status_code == 413
        assert "serve.max_body_bytes" in too_large.json()["message"]
    # each connection is taken by one worker (SO_REUSEPORT: the kernel picks by a hash);
    # 16 connections leave none idle, but for a chance of 2 in 65,536
    for _ in range(16):
        with httpx.Client(base_url=url) as one:
            assert one.get("/make_recommendation", params={"browsed": "a"}).status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    per_worker = [
        float(row.rsplit(" ", 1)[1])
        for row in metrics.splitlines()
        if row.startswith("dimrec_worker_requests{")
    ]
    assert len(per_worker) == 2
    assert min(per_worker) > 0
    # counters of both workers are summed: at least 40 answers to /make_recommendation
    line = next(
        row
        for row in metrics.splitlines()
        if row.startswith("dimrec_http_requests_total{")
        and 'route="/make_recommendation"' in row
        and 'status="200"' in row
    )
    assert float(line.rsplit(" ", 1)[1]) >= 40
    assert 'dimrec_model_version_info{version="v2"} 1.0' in metrics

    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0


def test_a_store_url_that_cannot_work_is_a_clear_error(environment: dict[str, str]) -> None:
    env = {**environment, "DIMREC_STORE__URL": "nosuch://x"}
    process = dimrec("serve", "--port", str(free_port()), env=env)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "unknown scheme" in output
    assert "Traceback" not in output


def test_a_port_in_use_is_a_one_line_error(environment: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            process = dimrec("serve", "--port", str(port), "--workers", workers, env=environment)
            output, _ = process.communicate(timeout=60)
            assert process.returncode == 2
            assert output.strip() == (
                f"error: cannot listen on 127.0.0.1:{port}: the port is in use by another "
                "process; stop it or choose another (--port)"
            )


def test_serve_help_names_its_options(environment: dict[str, str]) -> None:
    process = dimrec("serve", "--help", env=environment)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    for option in ("--host", "--port", "--workers"):
        assert option in output
