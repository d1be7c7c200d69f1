"""The web console over HTTP (a real server on loopback, a real store, the pipeline's own run
records and report): what each page says, what "try it" answers against the API, and that
every action needs the jobs token. The same console in a browser: test_console_browser.py."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from console_site import TOKEN, Site, build_site
from serve_helpers import live_server, wait_for

from dimrec.publish.stores import open_store
from dimrec.schedule.queue import JobQueue
from dimrec.serve.app import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("console"))


@pytest.fixture
def client(site: Site) -> Iterator[httpx.Client]:
    with open_store(site.settings.store.url) as store:  # each test starts on the second
        if store.current() != site.second:
            store.set_current(site.second)
        store.unhide(store.hidden())
    with live_server(create_app(site.settings)) as url, httpx.Client(base_url=url) as http:
        wait_for(lambda: served(http) == site.second, what="the second version to load")
        yield http


def served(http: httpx.Client) -> str | None:
    version: str | None = http.get("/readyz").json()["version"]
    return version


class Rows(HTMLParser):
    """The ``data-*`` attributes of the elements that carry ``data-item`` (a result row)."""

    def __init__(self, selector: str) -> None:
        super().__init__()
        self.selector, self.inside, self.rows = selector, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("class") == self.selector or found.get("id") == self.selector:
            self.inside = True
        elif self.inside and tag == "tr" and "data-item" in found:
            self.rows.append((found["data-item"], float(found["data-score"] or "nan")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False


def rows(text: str, selector: str) -> list[tuple[str | None, float]]:
    parser = Rows(selector)
    parser.feed(text)
    return parser.rows


def api_pairs(answer: dict[str, object]) -> list[tuple[str | None, float]]:
    results = answer["results"]
    assert isinstance(results, list)
    return [(r["item"], r["score"]) for r in results]


# --- the pages ------------------------------------------------------------------------------


def test_the_status_page_shows_each_days_runs_and_failures(
    client: httpx.Client, site: Site
) -> None:
    page = client.get("/ui")
    assert page.status_code == 200
    day = site.missing_day.isoformat()
    failed = re.search(rf'data-step="export" data-day="{day}" data-outcome="(\w+)"', page.text)
    assert failed is not None
    assert failed.group(1) == "failed"
    assert html.escape(site.missing_reason) in page.text
    assert f'<code id="served-version">{site.second}</code>' in page.text
    trained = re.findall(r'data-step="train" data-day="[\d-]+" data-outcome="succeeded"', page.text)
    assert len(trained) == 1  # both trainings were of the same window's last day: the last kept
    assert "rp3beta" in page.text


def test_the_versions_page_shows_manifests_and_the_current_one(
    client: httpx.Client, site: Site
) -> None:
    page = client.get("/ui/versions").text
    assert re.search(rf'class="version current" data-version="{site.second}"', page)
    assert re.search(rf'class="version " data-version="{site.first}"', page)
    assert page.index(site.second) < page.index(site.first)  # newest first
    # Each version's algorithm: the default blend's (first) and rp3beta (second).
    for shown in ("rp3_beta", "users_dropped", "similarity", "blend_sequential", "rp3beta"):
        assert shown in page


def test_a_manifest_field_the_page_does_not_know_is_shown_as_it_is(
    client: httpx.Client, site: Site
) -> None:
    """Another engineer adds the tuning run that chose a version to its manifest: it shows."""
    with open_store(site.settings.store.url) as store:
        info = next(i for i in store.versions() if i.version == site.first)
        manifest = {**info.manifest, "tuned_by": {"report": "tune-20260101T000000000Z"}}
        store.stage("extra-field", manifest)
        store.activate("extra-field")
        try:
            page = client.get("/ui/versions").text
        finally:
            store.set_current(site.second)
            store.drop("extra-field")
    assert 'data-field="tuned_by"' in page
    assert "tune-20260101T000000000Z" in page


def test_reports_are_listed_and_shown_with_their_plots(client: httpx.Client, site: Site) -> None:
    listing = client.get("/ui/reports").text
    assert f'data-report="{site.report}"' in listing
    assert "exact, popularity" in listing
    page = client.get(f"/ui/reports/{site.report}")
    assert page.status_code == 200
    assert f'src="/ui/reports/{site.report}/report.html"' in page.text
    report = client.get(f"/ui/reports/{site.report}/report.html")
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert "<svg" in report.text
    for bad in ("..", "nope", ".hidden"):
        assert client.get(f"/ui/reports/{bad}/report.html").status_code == 404


def test_a_tune_report_is_listed_with_its_choice(client: httpx.Client, site: Site) -> None:
    """`dimrec tune` writes its report beside the evaluations: the page lists it as a tune,
    with the configuration it chose, and shows it."""
    from dimrec.evaluate import flow
    from dimrec.evaluate.tune import TuneGrid

    grid = TuneGrid(
        algorithms=["exact"],
        weighting=["none"],
        blend_weights=[],
        blend_max_weights=[],
        weights=[{"browse": 1.0, "basket": 2.0, "purchase": 4.0}],
        user_filters=[(2, 100)],
        half_life_days=[None],
    )
    summary = flow.tune(site.settings, grid=grid, baselines=False, ks=(10,))
    name = summary.report_url.rstrip("/").split("/")[-2]
    assert name.startswith("tune-")
    listing = client.get("/ui/reports").text
    row = listing[listing.index(f'data-report="{name}"') :].split("</tr>")[0]
    assert '<span class="badge tune">tune</span>' in row
    assert f"chose <code>{html.escape(summary.result.best.label())}</code>" in row
    assert client.get(f"/ui/reports/{name}/report.html").status_code == 200


# --- try it ---------------------------------------------------------------------------------


def test_try_it_answers_what_the_api_answers(client: httpx.Client) -> None:
    popular = api_pairs(client.get("/make_recommendation", params={"n": 6}).json())
    a, b, c = (item for item, _ in popular[:3])
    query = {"browsed": [a, c], "basket": b, "n": 7}
    panel = client.get("/ui/try/panel", params=query).text
    api = client.get("/make_recommendation", params={"browsed": f"{a},{c}", "basket": b, "n": 7})
    assert rows(panel, "results") == api_pairs(api.json())
    assert len(rows(panel, "results")) == 7
    # adding an item through the form (item + action) is the same as listing it
    added = client.get(
        "/ui/try/panel", params={"browsed": [a, c], "item": b, "action": "basket", "n": 7}
    )
    assert rows(added.text, "results") == rows(panel, "results")
    removed = client.get("/ui/try/panel", params={**query, "remove": f"browsed:{c}"}).text
    api = client.get("/make_recommendation", params={"browsed": a, "basket": b, "n": 7})
    assert rows(removed, "results") == api_pairs(api.json())


def test_try_it_with_nothing_known_is_the_popularity_fallback(client: httpx.Client) -> None:
    panel = client.get("/ui/try/panel", params={"browsed": "NEVER-SEEN", "n": 5}).text
    api = client.get("/make_recommendation", params={"browsed": "NEVER-SEEN", "n": 5}).json()
    assert api["fallback"] is True
    assert rows(panel, "results") == api_pairs(api)
    assert 'data-fallback="true"' in panel
    assert "NEVER-SEEN" in panel  # named as unknown
    bad = client.get("/ui/try/panel", params={"item": "has space"}).text
    assert "is not an item id" in bad


def test_similar_items_are_the_apis(client: httpx.Client) -> None:
    item = api_pairs(client.get("/make_recommendation", params={"n": 1}).json())[0][0]
    assert item is not None
    page = client.get("/ui/try/similar", params={"item": item, "n": 5}).text
    api = client.get(f"/items/{item}/similar", params={"n": 5}).json()
    assert rows(page, "similar") == api_pairs(api)
    assert "has no neighbour list" in client.get("/ui/try/similar?item=NOPE").text


def test_the_type_ahead_offers_the_served_items_with_the_prefix(
    client: httpx.Client, site: Site
) -> None:
    with open_store(site.settings.store.url) as store:
        every = sorted({e.item for e in store.entries(site.second)})
    prefix = every[len(every) // 2][:7]
    expected = [item for item in every if item.startswith(prefix)][:20]
    offered = re.findall(r'<option value="([^"]+)">', client.get(f"/ui/items?item={prefix}").text)
    assert set(expected) <= set(offered)
    assert all(item.startswith(prefix) for item in offered)
    assert offered == sorted(offered)
    assert client.get("/ui/items?item=zzz-none").text.strip() == ""


# --- actions need the jobs token ------------------------------------------------------------


def test_rollback_needs_the_token_and_the_api_follows(client: httpx.Client, site: Site) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
        refused = client.post("/ui/versions/current", data={"version": site.first}, headers=headers)
        assert refused.status_code == 401
        assert "jobs token" in refused.text
        assert (
            f'data-version="{site.second}"' in refused.text
        )  # the table stays, not just the message
    with open_store(site.settings.store.url) as store:
        assert store.current() == site.second
    done = client.post("/ui/versions/current", data={}, headers=AUTH)  # back one version
    assert done.status_code == 200
    assert f"version {site.first} is current" in done.text
    wait_for(lambda: served(client) == site.first, what="the API to follow the rollback")
    missing = client.post("/ui/versions/current", data={"version": "v-none"}, headers=AUTH)
    assert missing.status_code == 404
    assert "is not published" in missing.text


def test_hide_and_unhide_need_the_token(client: httpx.Client) -> None:
    top = api_pairs(client.get("/make_recommendation", params={"n": 2}).json())[0][0]
    assert top is not None
    refused = client.post("/ui/hidden", data={"items": top, "action": "hide"})
    assert refused.status_code == 401
    assert "jobs token" in refused.text
    assert 'name="items"' in refused.text  # the hidden items' form stays, with the message
    done = client.post("/ui/hidden", data={"items": f"{top}, x-1", "action": "hide"}, headers=AUTH)
    assert "2 item(s) newly hidden; 2 hidden in all" in done.text

    def gone() -> bool:
        answer = client.get("/make_recommendation", params={"n": 5}).json()
        return top not in [item for item, _ in api_pairs(answer)]

    wait_for(gone, what="the hidden item to leave the answers")
    back = client.post("/ui/hidden", data={"items": top, "action": "unhide"}, headers=AUTH)
    assert "1 item(s) unhidden; 1 hidden in all" in back.text
    bad = client.post("/ui/hidden", data={"items": "a\x01b", "action": "hide"}, headers=AUTH)
    assert bad.status_code == 422


def test_jobs_are_queued_with_the_token(client: httpx.Client, site: Site) -> None:
    assert client.get("/ui/jobs").status_code == 401
    assert client.get("/ui/jobs", headers=AUTH).status_code == 200
    queued = client.post("/ui/jobs", data={"name": "publish", "version": site.first}, headers=AUTH)
    assert queued.status_code == 200
    record = JobQueue(site.settings).recent(1)[0]
    assert (record.name, record.params, record.state) == (
        "publish",
        {"version": site.first, "force": False},
        "queued",
    )
    assert f'data-job="{record.id}" data-state="queued"' in queued.text
    bad = client.post("/ui/jobs", data={"name": "train", "days_init": "x"}, headers=AUTH)
    assert bad.status_code == 422
    assert "invalid parameters for job train" in bad.text
    unknown = client.post("/ui/jobs", data={"name": "nap"}, headers=AUTH)
    assert unknown.status_code == 422
    assert "unknown job 'nap'" in html.unescape(unknown.text)


def test_without_a_token_the_actions_are_off(site: Site, tmp_path: Path) -> None:
    settings = site.settings.model_copy(
        update={"queue": site.settings.queue.model_copy(update={"token": None})}
    )
    del tmp_path
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        assert http.post("/ui/versions/current", headers=AUTH).status_code == 403
        assert http.get("/ui/jobs", headers=AUTH).status_code == 403
        assert "needs <code>queue.token</code>" in http.get("/ui").text


def test_a_setting_turns_the_console_off(site: Site) -> None:
    settings = site.settings.model_copy(
        update={"serve": site.settings.serve.model_copy(update={"console": False})}
    )
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        assert http.get("/ui").status_code == 404
        assert http.get("/ui/static/console.css").status_code == 404
        assert http.get("/healthz").status_code == 200
