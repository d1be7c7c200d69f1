"""The web console in a real browser: Debian's headless Chromium driven by Playwright, against
a real server, store, run records, report and ``dimrec worker``.

It loads every page (no script error, no failed request, nothing asked of another host), uses
"try it" and checks the recommendations equal the API's, refuses a wrong token, rolls back
with the right one and sees the API follow, and runs a job through the worker, watching it
progress. With ``DIMREC_UPDATE_SCREENSHOT=1`` it writes the README's ``docs/console.png``.

Skipped, saying why, where Chromium or Playwright is missing; under
``DIMREC_REQUIRE_SERVICES=1`` (``make test``, which installs both) a missing browser fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_site import TOKEN, Site, build_site
from serve_helpers import live_server, wait_for

from dimrec.serve.app import create_app
from dimrec.serve.console.common import VENDORED

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
#: As root, in a container without a display or a network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (a dev dependency: make setup)"
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} is missing (Debian's chromium: scripts/ensure-system-deps.sh)"
    if not VENDORED.is_file():
        return f"the console's htmx is not vendored ({VENDORED}): scripts/vendor-web.sh"
    return None


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    why = _missing()
    if why is not None:
        if os.environ.get("DIMREC_REQUIRE_SERVICES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("console-browser"))


@pytest.fixture(scope="module")
def url(site: Site) -> Iterator[str]:
    with live_server(create_app(site.settings)) as address:
        wait_for(lambda: served(address) == site.second, what="the second version to load")
        yield address


@pytest.fixture(scope="module")
def worker(site: Site) -> Iterator[subprocess.Popen[bytes]]:
    """``dimrec worker`` on the site's queue."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dimrec", "--config", str(site.config), "worker"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield process
        finally:
            process.terminate()
            process.wait(30)


class Page:
    """A browser tab on the console that fails the test on a script error, a failed request
    or a request to any other host."""

    def __init__(self, context: Any, url: str) -> None:
        self.url = url
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if not request.url.startswith((self.url + "/", "data:")):
            self.problems.append(f"asked another host: {request.url}")

    def open(self, path: str) -> Any:
        answer = self.page.goto(self.url + path)
        assert answer is not None
        assert answer.status == 200, path
        self.page.wait_for_load_state("networkidle")
        return self.page

    def close(self) -> None:
        self.page.close()
        assert self.problems == []


@pytest.fixture
def tab(browser_context: Any, url: str) -> Iterator[Page]:
    opened = Page(browser_context, url)
    yield opened
    opened.close()


def served(url: str) -> str | None:
    version: str | None = httpx.get(f"{url}/readyz", timeout=10).json()["version"]
    return version


def api(url: str, path: str, **params: Any) -> list[tuple[str, float]]:
    answer = httpx.get(f"{url}{path}", params=params, timeout=10).json()
    return [(r["item"], r["score"]) for r in answer["results"]]


def shown(page: Any, selector: str) -> list[tuple[str, float]]:
    found = page.eval_on_selector_all(
        f"{selector} tbody tr[data-item]",
        "rows => rows.map(r => [r.dataset.item, r.dataset.score])",
    )
    return [(item, float(score)) for item, score in found]


def enter_token(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.press("#token", "Enter")


# --- every page loads --------------------------------------------------------------------------


def test_every_page_loads_from_this_server_alone(tab: Page, site: Site) -> None:
    status = tab.open("/ui")
    assert status.inner_text("#served-version") == site.second
    failed = status.locator(f'td[data-step="export"][data-day="{site.missing_day}"]')
    assert failed.get_attribute("data-outcome") == "failed"
    assert site.missing_reason[:40] in failed.inner_text()
    assert "enter the jobs token" in status.inner_text("#jobs")  # the queue needs it
    versions = tab.open("/ui/versions")
    assert versions.locator("tr.version.current").get_attribute("data-version") == site.second
    versions.locator("tr.manifest details summary").first.click()
    assert "rp3_beta" in versions.locator("tr.manifest").first.inner_text()
    reports = tab.open("/ui/reports")
    reports.click(f'tr[data-report="{site.report}"] a')
    reports.wait_for_load_state("networkidle")
    frame = reports.frame_locator("#report")
    assert frame.locator("svg").first.is_visible()
    assert "dimrec evaluation" in frame.locator("h1").inner_text()
    tab.open("/ui/try")


# --- try it ------------------------------------------------------------------------------------


def test_try_it_shows_what_the_api_answers(tab: Page, url: str, site: Site) -> None:
    popular = [item for item, _ in api(url, "/make_recommendation", n=20)]
    page = tab.open("/ui/try")
    # the type-ahead offers the served version's items that start with what is typed
    prefix = popular[0][:-2]
    page.fill("#item", prefix)
    page.wait_for_function(
        "n => document.querySelectorAll('#suggestions option').length >= n", arg=1
    )
    offered = page.eval_on_selector_all("#suggestions option", "os => os.map(o => o.value)")
    assert popular[0] in offered
    assert all(item.startswith(prefix) for item in offered)

    def add(item: str, action: str) -> None:
        page.select_option("#action", action)
        page.fill("#item", item)
        page.click("#add")
        page.wait_for_selector(
            f'.list[data-list="{action}"] input[value="{item}"]', state="attached"
        )

    add(popular[0], "browsed")
    add(popular[1], "basket")
    add(popular[2], "purchased")
    page.fill("#n", "8")
    page.press("#n", "Tab")  # a change of n re-renders the answer
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 8")
    expected = api(
        url,
        "/make_recommendation",
        browsed=popular[0],
        basket=popular[1],
        purchased=popular[2],
        n=8,
    )
    assert shown(page, "#results") == expected
    assert page.get_attribute("#results", "data-version") == site.second

    first = expected[0][0]
    page.click(f'#results tr[data-item="{first}"] button.link')
    page.wait_for_selector(f'table.similar[data-item="{first}"]')
    assert shown(page, "table.similar") == api(url, f"/items/{first}/similar", n=8)

    page.click(f'.list[data-list="browsed"] button[value="browsed:{popular[0]}"]')
    page.wait_for_selector(
        f'.list[data-list="browsed"] input[value="{popular[0]}"]', state="detached"
    )
    expected = api(url, "/make_recommendation", basket=popular[1], purchased=popular[2], n=8)
    assert shown(page, "#results") == expected


# --- actions need the token --------------------------------------------------------------------


def test_a_wrong_token_is_refused_and_the_right_one_rolls_back(
    tab: Page, url: str, site: Site
) -> None:
    page = tab.open("/ui/versions")
    page.on("dialog", lambda dialog: dialog.accept())  # "Make ... the current version?"
    enter_token(page, "not-the-token-at-all")
    page.click(f'tr[data-version="{site.first}"] button.make-current')
    refusal = page.wait_for_selector("#versions .message.error")
    assert "jobs token is wrong" in refusal.inner_text()
    assert served(url) == site.second

    enter_token(page, TOKEN)
    page.reload()  # the refusal replaced the table: show it again
    page.click(f'tr[data-version="{site.first}"] button.make-current')
    said = page.wait_for_selector("#versions .message.ok")
    assert f"version {site.first} is current" in said.inner_text()
    assert page.locator("tr.version.current").get_attribute("data-version") == site.first
    wait_for(lambda: served(url) == site.first, what="the API to follow the rollback")


def test_a_job_runs_and_the_page_follows_it(
    tab: Page, url: str, site: Site, worker: subprocess.Popen[bytes]
) -> None:
    page = tab.open("/ui")
    enter_token(page, TOKEN)
    page.wait_for_selector("#jobs .jobs")
    page.select_option("select[name=name]", "publish")
    page.fill("input[name=version]", site.second)
    page.click("form.run-job button[type=submit]")
    job = page.wait_for_selector("#jobs tr.job.new")
    assert job.get_attribute("data-state") in ("queued", "running", "succeeded")
    # the table refreshes itself until the job is done
    page.wait_for_selector("#jobs tr.job[data-state=succeeded]", timeout=60_000)
    assert worker.poll() is None
    outcome = page.inner_text("#jobs tr.job[data-state=succeeded] td.what")
    assert f"published {site.second}" in outcome
    wait_for(lambda: served(url) == site.second, what="the API to follow the job's publish")
    if os.environ.get("DIMREC_UPDATE_SCREENSHOT") == "1":
        page.reload()
        enter_token(page, TOKEN)
        page.wait_for_selector("#jobs tr.job[data-state=succeeded]")
        page.evaluate("document.activeElement.blur()")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
