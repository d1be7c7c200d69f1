"""Run the API with uvicorn: what ``dimrec serve`` does.

One worker runs the app object in this process. Several workers are separate processes that
uvicorn's supervisor spawns (and restarts when one dies) from the import string
:data:`~dimrec.serve.app.FACTORY`; they get the exact settings of this process as JSON in
``$DIMREC_SERVE_SETTINGS_JSON`` and share Prometheus metrics through a fresh
``$PROMETHEUS_MULTIPROC_DIR`` removed at exit. Each worker loads the model version itself
(mapping the version's serving index: one copy in memory for all of them) and follows the
store on its own.

Each worker listens on a socket of its own, all bound to the same port with ``SO_REUSEPORT``:
the kernel spreads new connections over the workers (by a hash of their addresses), where one
shared socket lets whichever worker wakes first accept a whole burst of connections. A worker
starts listening only once it has loaded the current version. The port is checked before any
worker starts: one in use is a one-line error.

uvicorn runs with httptools and uvloop, without the access log (the request metrics say what
it would, at a fraction of the cost), and with the request limits of
:mod:`dimrec.serve.limits`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
from typing import Any

import uvicorn
from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from dimrec.config import Settings
from dimrec.errors import ConfigError, DimrecError, StoreError
from dimrec.logs import SERVICE_LEVEL
from dimrec.publish.stores import open_store
from dimrec.serve.app import FACTORY, SETTINGS_ENV, create_app
from dimrec.serve.limits import LimitConfig
from dimrec.serve.telemetry import MULTIPROC_ENV

log = logging.getLogger(__name__)
BACKLOG = 2048


def run(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> None:
    """Serve until interrupted; ``None`` takes the value from ``settings.serve``."""
    host = host or settings.serve.host
    port = settings.serve.port if port is None else port
    workers = workers or settings.serve.workers
    options: dict[str, Any] = {
        "host": host,
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "log_level": (settings.log_level or SERVICE_LEVEL).lower(),
        "timeout_graceful_shutdown": 10,
        "backlog": BACKLOG,
        # a spawned worker re-imports the CLI and loads the model version before it answers
        # uvicorn's health pings; on a busy machine that exceeds uvicorn's default 5 s
        "timeout_worker_healthcheck": 60,
        "limits": settings.serve,
    }
    _check_store(settings.store.url)
    sock = bind(host, port)  # a port in use fails here, in one line
    port = int(sock.getsockname()[1])
    log.info("serving on http://%s:%d with %d worker(s)", host, port, workers)
    if workers == 1:
        server = uvicorn.Server(LimitConfig(create_app(settings), port=port, **options))
        server.run(sockets=[sock])
        if not server.started:
            raise DimrecError("the server did not start; the log above says why")
        return
    sock.close()  # each worker binds its own socket to the port
    with tempfile.TemporaryDirectory(prefix="dimrec-metrics-") as metrics_dir:
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        os.environ[MULTIPROC_ENV] = metrics_dir
        try:
            config = LimitConfig(FACTORY, factory=True, workers=workers, port=port, **options)
            Supervisor(config, sockets=[]).run()
        finally:
            os.environ.pop(SETTINGS_ENV, None)
            os.environ.pop(MULTIPROC_ENV, None)


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port``, not yet listening (the server listens once the
    app has started); ConfigError in one line when the address cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        code = getattr(exc, "errno", None)
        if code == errno.EADDRINUSE:
            why = "the port is in use by another process; stop it or choose another (--port)"
        elif code == errno.EADDRNOTAVAIL:
            why = "the address is not one of this machine's (--host)"
        elif code == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
        else:
            why = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
    sock.set_inheritable(True)
    return sock


class ReusePortServer(uvicorn.Server):
    """A worker's server: its own socket on the shared port, with ``SO_REUSEPORT``."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:  # noqa: ARG002
        own = bind(self.config.host, self.config.port, reuse_port=True)
        await super().startup(sockets=[own])


class Worker(Process):
    """uvicorn's worker process, serving with a :class:`ReusePortServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = ReusePortServer(config=self.config)
        return self._server


class Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, starting :class:`Worker`\\ s and clearing
    the metrics of a worker that died before starting its replacement."""

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = Worker(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = Worker(self.config, self.sockets)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("worker [%s] was not ready in time; keeping [%s]", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self._forget(old)
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            self._forget(process)
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning("worker [%s] died (exit code %s); starting another", *_died(process))
            replacement = Worker(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement

    @staticmethod
    def _forget(process: Process) -> None:
        """Drop a dead worker's live gauges from the shared metrics."""
        folder = os.environ.get(MULTIPROC_ENV)
        if folder and process.pid is not None:
            multiprocess.mark_process_dead(process.pid, folder)  # type: ignore[no-untyped-call]


def _died(process: Process) -> tuple[int | None, int | None]:
    return process.pid, process.exitcode


def _check_store(url: str) -> None:
    """Fail now on a store URL that can never work; a store that is down may come back."""
    try:
        open_store(url).close()
    except StoreError as exc:
        log.warning("the store is not reachable yet (%s); serving once it is", exc)
