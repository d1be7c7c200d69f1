"""Request size limits on a real server (uvicorn with dimrec's protocol, on loopback), with
real oversized requests written to a raw socket: a refusal that arrives while most of the
request is still unsent shows the server did not read it first."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx
import pytest
from serve_helpers import live_server, put_version, served_version, wait_for

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.serve.app import create_app

MiB = 1024 * 1024


@pytest.fixture
def address(server_url: str, client: httpx.Client, store: Store) -> tuple[str, int]:
    put_version(store, "v1", {"a": [("b", 0.5)], "b": [("a", 0.5)]}, [("a", 1.0)])
    wait_for(lambda: served_version(client) == "v1", what="v1")
    parts = urlsplit(server_url)
    return parts.hostname or "", parts.port or 0


def exchange(address: tuple[str, int], head: bytes, body: Iterable[bytes] = ()) -> bytes:
    """Send ``head`` then as much of ``body`` as the server takes; return its whole answer."""
    with socket.create_connection(address, timeout=20) as sock:
        try:
            sock.sendall(head)
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: what a limit should do
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def problem(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"connection: close" in head.lower()
    return status, json.loads(body)


def test_a_body_declared_too_large_is_refused_unread(address: tuple[str, int]) -> None:
    head = (
        b"POST /recommendations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 400000000\r\n\r\n"
    )
    # 400 MB declared, 10 bytes sent: the answer comes without the rest of the body
    status, body = problem(exchange(address, head + b'{"shoppe'))
    assert status == 413
    assert body["message"] == (
        "the request body is 400,000,000 bytes, more than the 1,048,576 bytes accepted "
        "(serve.max_body_bytes)"
    )


def test_a_chunked_body_is_stopped_at_the_limit(address: tuple[str, int]) -> None:
    head = (
        b"POST /recommendations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 65536
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(4 * 1024))  # 256 MiB
    status, body = problem(exchange(address, head, chunks))
    assert status == 413
    assert "longer than the 1,048,576 bytes accepted" in body["message"]


@pytest.mark.usefixtures("address")
def test_a_body_within_the_limit_is_answered(client: httpx.Client) -> None:
    padding = " " * (MiB - 200)  # JSON whitespace: a valid body just under 1 MiB
    answer = client.post(
        "/recommendations",
        content=f'{{"shoppers": [{{"items": [{{"item": "a", "action": "browse"}}]}}]{padding}}}',
    )
    assert answer.status_code == 200
    assert answer.json()["shoppers"][0]["results"] == [{"item": "b", "score": 0.25}]


def test_a_huge_header_is_refused_before_it_is_read(address: tuple[str, int]) -> None:
    head = b"GET /make_recommendation?browsed=a HTTP/1.1\r\nhost: x\r\nx-padding: "
    endless = (b"y" * 65536 for _ in range(256))  # 16 MiB of one header, never finished
    answer = exchange(address, head, endless)
    assert answer.startswith(b"HTTP/1.1 431 ")
    status, body = problem(answer)
    assert status == 431
    assert "at most 65,536 are accepted (serve.max_header_bytes)" in body["message"]


def test_too_many_header_fields_are_refused(address: tuple[str, int]) -> None:
    fields = b"".join(b"x-field-%d: 1\r\n" % k for k in range(150))
    answer = exchange(
        address, b"GET /make_recommendation?browsed=a HTTP/1.1\r\nhost: x\r\n" + fields + b"\r\n"
    )
    status, body = problem(answer)
    assert status == 431
    assert body["message"] == (
        "the request has 151 header fields; at most 100 are accepted (serve.max_headers)"
    )


def test_headers_within_the_limits_are_answered(address: tuple[str, int]) -> None:
    fields = b"".join(b"x-field-%d: %s\r\n" % (k, b"z" * 500) for k in range(90))  # 46 kB
    answer = exchange(
        address,
        b"GET /make_recommendation?browsed=a HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        + fields
        + b"\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"item":"b"' in answer


def test_the_default_head_limit_fits_the_longest_get(settings: Settings, store: Store) -> None:
    """A GET naming max_input_items ids of 128 characters (64.5 kB) is within the default."""
    ids = [f"{k:03d}".ljust(128, "x") for k in range(settings.serve.max_input_items)]
    put_version(store, "v1", {ids[0]: [("b", 0.5)]})
    with (
        live_server(create_app(settings, store), settings.serve) as url,
        httpx.Client(base_url=url, timeout=20) as client,
    ):
        wait_for(lambda: served_version(client) == "v1", what="v1")
        answer = client.get("/make_recommendation", params={"browsed": ",".join(ids)})
        assert answer.status_code == 200
        assert answer.json()["results"] == [{"item": "b", "score": 0.25}]


def test_the_jobs_api_has_the_same_body_limit(settings: Settings, store: Store) -> None:
    token = "a-token-long-enough-for-the-rule"
    queue = settings.queue.model_copy(update={"token": token})
    with_jobs = settings.model_copy(update={"queue": queue})
    with live_server(create_app(with_jobs, store), with_jobs.serve) as url:
        parts = urlsplit(url)
        head = (
            b"POST /jobs/train HTTP/1.1\r\nhost: x\r\nauthorization: Bearer "
            + token.encode()
            + b"\r\ncontent-type: application/json\r\ncontent-length: 5000000\r\n\r\n{"
        )
        status, body = problem(exchange((parts.hostname or "", parts.port or 0), head))
    assert status == 413
    assert "serve.max_body_bytes" in body["message"]


def test_the_demo_serves_with_the_same_limits(serve_settings: Settings) -> None:
    """`dimrec demo` answers with the server `dimrec serve` runs: its head limits too."""
    from dimrec.cli.demo import _start_server
    from dimrec.publish.stores import open_store

    url = "memory://demo-limits"
    settings = serve_settings.model_copy(
        update={"store": serve_settings.store.model_copy(update={"url": url})}
    )
    with open_store(url) as store:
        put_version(store, "v1", {"a": [("b", 0.5)], "b": [("a", 0.5)]}, [("a", 1.0)])
        server, base = _start_server(settings, 0)
        try:
            parts = urlsplit(base)
            fields = b"".join(b"x-field-%d: 1\r\n" % k for k in range(150))
            head = b"GET /make_recommendation?browsed=a HTTP/1.1\r\nhost: x\r\n"
            status, body = problem(
                exchange((parts.hostname or "", parts.port or 0), head + fields + b"\r\n")
            )
            assert status == 431
            assert "151 header fields" in body["message"]
            assert httpx.get(f"{base}/make_recommendation?browsed=a").status_code == 200
        finally:
            server.should_exit = True
