"""The jobs API through a real server on loopback: auth, 404 when off, 422, 202 + status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from dimrec.config import Settings, load_settings
from dimrec.errors import ConfigError
from dimrec.publish.stores import open_store
from dimrec.schedule.queue import JobQueue
from dimrec.serve.app import create_app
from serve.serve_helpers import live_server

TOKEN = "test-token-0123456789abcdef"


def _with_token(settings: Settings, token: str | None) -> Settings:
    return settings.model_copy(update={"queue": settings.queue.model_copy(update={"token": token})})


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[str, Settings]]:
    configured = _with_token(settings, TOKEN)
    store = open_store(f"memory://jobs-{uuid.uuid4().hex}")
    with live_server(create_app(configured, store)) as url:
        yield url, configured
    store.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_jobs_api_is_off_without_a_token(settings: Settings) -> None:
    store = open_store(f"memory://jobs-{uuid.uuid4().hex}")
    with live_server(create_app(_with_token(settings, None), store)) as url:
        for method, path in (("POST", "/jobs/export"), ("GET", "/jobs"), ("GET", "/jobs/x")):
            answer = httpx.request(method, url + path, headers=AUTH, json={}, timeout=10)
            assert answer.status_code == 404, (method, path)
        assert not any(
            p.startswith("/jobs") for p in httpx.get(url + "/openapi.json").json()["paths"]
        )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}],
)
def test_jobs_api_needs_the_token(api: tuple[str, Settings], headers: dict[str, str]) -> None:
    url, settings = api
    answer = httpx.post(f"{url}/jobs/export", headers=headers, json={}, timeout=10)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/jobs", headers=headers, timeout=10).status_code == 401
    assert JobQueue(settings).recent() == []  # nothing was queued


@pytest.mark.parametrize(
    ("name", "body", "named"),
    [
        ("export", {"date": "2026-13-01"}, "date"),
        ("train", {"algorithm": "magic"}, "algorithm"),
        ("train", {"days_init": 2, "days_end": 5}, "days_end"),
        ("train", {"threshold": -0.1}, "threshold"),
        ("publish", {"unknown": 1}, "unknown"),
        ("export", {"days_init": 1_000_000_000}, "max_window_days"),
        ("daily", {"days_init": 100_000, "days_end": 1}, "max_window_days"),
    ],
)
def test_bad_parameters_are_422(
    api: tuple[str, Settings], name: str, body: dict[str, object], named: str
) -> None:
    url, settings = api
    answer = httpx.post(f"{url}/jobs/{name}", headers=AUTH, json=body, timeout=10)
    assert answer.status_code == 422
    assert named in answer.text
    assert JobQueue(settings).recent() == []


def test_unknown_job_name_is_422(api: tuple[str, Settings]) -> None:
    url, _ = api
    answer = httpx.post(f"{url}/jobs/reboot", headers=AUTH, json={}, timeout=10)
    assert answer.status_code == 422


def test_posted_job_is_queued_and_readable(api: tuple[str, Settings]) -> None:
    url, settings = api
    answer = httpx.post(f"{url}/jobs/export", headers=AUTH, json={"date": "2026-11-20"})
    assert answer.status_code == 202
    job = answer.json()
    assert job["state"] == "queued"
    assert job["name"] == "export"
    assert job["params"]["date"] == "2026-11-20"

    status = httpx.get(f"{url}{job['status_url']}", headers=AUTH, timeout=10)
    assert status.status_code == 200
    assert status.json()["id"] == job["id"]
    listed = httpx.get(f"{url}/jobs", headers=AUTH, timeout=10).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert job["id"] in JobQueue(settings).pending_job_ids()  # really on the queue

    missing = httpx.get(f"{url}/jobs/{'0' * 32}", headers=AUTH, timeout=10)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "token",
    [
        " " * 20,  # whitespace only
        "\t" * 16,
        "token with spaces in it",
        "jeton-très-secret-0123",  # not ASCII: no HTTP client can send it as it is
        "токен-0123456789abcdef",
        "line\nbreak-0123456789",
        "short",
        "changeme",
    ],
)
def test_a_token_no_client_could_send_is_refused_at_settings_load(token: str) -> None:
    with pytest.raises(ConfigError, match=r"queue\.token") as refused:
        load_settings(queue={"token": token})
    assert not token.strip() or token not in str(refused.value)  # never echoed
