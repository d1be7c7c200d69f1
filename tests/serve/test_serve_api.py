"""The HTTP API through a real uvicorn server on loopback, against a hand-worked model.

Similarities are binary fractions (exact in float32) and the default action weights are
browse 0.5, basket 2, purchase 6, so every expected score below is exact.
"""

from __future__ import annotations

import httpx
import pytest
from serve_helpers import live_server, put_version, served_version, wait_for

from dimrec.config import Settings
from dimrec.publish.base import Store
from dimrec.serve.app import create_app
from dimrec.serve.schemas import (
    ProblemPublic,
    ReadinessPublic,
    RecommendationPublic,
    RecommendationsPublic,
    SimilarItemsPublic,
)

# Neighbour lists, best first. a..e are one group, f and g another; p and q are popular items
# without a list (only in the popularity list).
LISTS = {
    "a": [("b", 0.75), ("c", 0.5), ("d", 0.25)],
    "b": [("a", 0.75), ("c", 0.375), ("e", 0.25)],
    "c": [("a", 0.5), ("b", 0.375), ("d", 0.125)],
    "d": [("a", 0.25), ("c", 0.125)],
    "e": [("b", 0.25)],
    "f": [("g", 0.5)],
    "g": [("f", 0.5)],
}
POPULAR = [("p", 9.0), ("a", 8.0), ("b", 7.0), ("f", 6.0), ("q", 5.0)]


@pytest.fixture
def served(client: httpx.Client, store: Store) -> httpx.Client:
    put_version(store, "v1", LISTS, POPULAR)
    wait_for(lambda: served_version(client) == "v1", what="v1 to be served")
    return client


def pairs(answer: dict[str, object]) -> list[tuple[str, float]]:
    results = answer["results"]
    assert isinstance(results, list)
    return [(r["item"], r["score"]) for r in results]


def test_scores_match_the_hand_worked_example(served: httpx.Client) -> None:
    # browsed=a,a → w_a = 2 × 0.5 = 1.0;  basket=b → w_b = 2.0
    #   c: 1.0·sim(a,c) + 2.0·sim(b,c) = 1.0·0.5  + 2.0·0.375 = 1.25
    #   e:                2.0·sim(b,e) =            2.0·0.25  = 0.5
    #   d: 1.0·sim(a,d)                = 1.0·0.25             = 0.25
    #   (a: 2.0·0.75 = 1.5 and b: 1.0·0.75 = 0.75 are input items, left out)
    answer = served.get("/make_recommendation", params={"browsed": "a,a", "basket": "b"})
    assert answer.status_code == 200
    body = RecommendationPublic.model_validate(answer.json()).model_dump()
    assert pairs(body) == [("c", 1.25), ("e", 0.5), ("d", 0.25)]
    assert body["version"] == "v1"
    assert body["fallback"] is False
    assert body["elapsed_ms"] >= 0


def test_keep_input_returns_the_input_items_with_their_scores(served: httpx.Client) -> None:
    answer = served.get(
        "/make_recommendation", params={"browsed": "a,a", "basket": "b", "keep_input": "true"}
    )
    assert pairs(answer.json()) == [("a", 1.5), ("c", 1.25), ("b", 0.75), ("e", 0.5), ("d", 0.25)]


def test_n_cuts_the_list(served: httpx.Client) -> None:
    answer = served.get("/make_recommendation", params={"browsed": "a,a", "basket": "b", "n": 2})
    assert pairs(answer.json()) == [("c", 1.25), ("e", 0.5)]


def test_a_purchase_weighs_six(served: httpx.Client) -> None:
    # purchased=e → w_e = 6;  b: 6·sim(e,b) = 6·0.25 = 1.5
    answer = served.get("/make_recommendation", params={"purchased": "e"})
    assert pairs(answer.json()) == [("b", 1.5)]


def test_unknown_items_are_ignored(served: httpx.Client) -> None:
    # as browsed=a alone: w_a = 0.5 → b 0.375, c 0.25, d 0.125
    answer = served.get("/make_recommendation", params={"browsed": "a,nosuchitem"})
    assert pairs(answer.json()) == [("b", 0.375), ("c", 0.25), ("d", 0.125)]
    assert answer.json()["fallback"] is False


def test_nothing_known_falls_back_to_popularity(served: httpx.Client) -> None:
    answer = served.get("/make_recommendation", params={"browsed": "nosuchitem", "n": 3})
    body = answer.json()
    assert body["fallback"] is True
    assert pairs(body) == [("p", 9.0), ("a", 8.0), ("b", 7.0)]
    # p is an input item (popular, without a list): left out of the fallback too
    body = served.get("/make_recommendation", params={"basket": "p"}).json()
    assert body["fallback"] is True
    assert [item for item, _ in pairs(body)] == ["a", "b", "f", "q"]
    # no input at all
    assert served.get("/make_recommendation").json()["fallback"] is True


def test_hidden_items_never_appear_and_refresh_within_seconds(
    served: httpx.Client, store: Store
) -> None:
    store.hide(["c", "p"])

    def without_c() -> bool:
        answer = served.get("/make_recommendation", params={"browsed": "a,a", "basket": "b"})
        return pairs(answer.json()) == [("e", 0.5), ("d", 0.25)]

    wait_for(without_c, what="hidden items to take effect")
    similar = served.get("/items/a/similar").json()
    assert pairs(similar) == [("b", 0.75), ("d", 0.25)]
    fallback = served.get("/make_recommendation", params={"browsed": "zz", "n": 2}).json()
    assert pairs(fallback) == [("a", 8.0), ("b", 7.0)]
    one_list = served.get("/make_recommendation", params={"browsed": "d"}).json()
    assert pairs(one_list) == [("a", 0.125)]
    assert served.get("/readyz").json()["hidden"] == 2

    store.unhide(["c", "p"])
    wait_for(lambda: served.get("/readyz").json()["hidden"] == 0, what="unhidden items to return")
    answer = served.get("/make_recommendation", params={"browsed": "a,a", "basket": "b"})
    assert pairs(answer.json())[0] == ("c", 1.25)


def test_similar_items(served: httpx.Client) -> None:
    answer = served.get("/items/b/similar", params={"n": 2})
    assert answer.status_code == 200
    body = SimilarItemsPublic.model_validate(answer.json())
    assert body.item == "b"
    assert [(r.item, r.score) for r in body.results] == [("a", 0.75), ("c", 0.375)]
    missing = served.get("/items/nosuchitem/similar")
    assert missing.status_code == 404
    assert "nosuchitem" in ProblemPublic.model_validate(missing.json()).message
    # p is known to the popularity list only: no neighbour list
    assert served.get("/items/p/similar").status_code == 404


def test_post_answers_several_shoppers_in_order(served: httpx.Client) -> None:
    body = {
        "shoppers": [
            # the GET example, with explicit weights and e excluded → c 1.25, d 0.25
            {
                "id": "s1",
                "items": [{"item": "a", "weight": 1.0}, {"item": "b", "weight": 2.0}],
                "exclude": ["e"],
            },
            # a browse and a purchase of the same item add up: w_f = 0.5 + 6 = 6.5 → g 3.25
            {
                "items": [
                    {"item": "f", "action": "browse"},
                    {"item": "f", "action": "purchase"},
                ]
            },
            {"id": "s3", "items": [{"item": "zz", "action": "basket"}], "n": 1},
        ]
    }
    answer = served.post("/recommendations", json=body)
    assert answer.status_code == 200
    parsed = RecommendationsPublic.model_validate(answer.json())
    assert parsed.version == "v1"
    blocks = [(s.id, [(r.item, r.score) for r in s.results], s.fallback) for s in parsed.shoppers]
    assert blocks == [
        ("s1", [("c", 1.25), ("d", 0.25)], False),
        (None, [("g", 3.25)], False),
        ("s3", [("p", 9.0)], True),
    ]


def test_follows_publish_and_rollback(served: httpx.Client, store: Store) -> None:
    v2 = {"a": [("z", 0.5)], "z": [("a", 0.5)]}
    put_version(store, "v2", v2, [("z", 1.0)])
    wait_for(lambda: served_version(served) == "v2", what="the server to follow v2")
    answer = served.get("/make_recommendation", params={"browsed": "a"}).json()
    assert (answer["version"], pairs(answer)) == ("v2", [("z", 0.25)])

    store.set_current("v1")  # rollback
    wait_for(lambda: served_version(served) == "v1", what="the server to follow the rollback")
    answer = served.get("/make_recommendation", params={"browsed": "a"}).json()
    assert (answer["version"], pairs(answer)) == ("v1", [("b", 0.375), ("c", 0.25), ("d", 0.125)])


def test_readyz_before_and_after_the_first_version(client: httpx.Client, store: Store) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    before = client.get("/readyz")
    assert before.status_code == 503
    assert ReadinessPublic.model_validate(before.json()).ready is False
    not_ready = client.get("/make_recommendation", params={"browsed": "a"})
    assert not_ready.status_code == 503
    assert "no model version is loaded" in not_ready.json()["message"]

    put_version(store, "v1", LISTS, POPULAR)
    wait_for(lambda: client.get("/readyz").status_code == 200, what="readiness")
    after = ReadinessPublic.model_validate(client.get("/readyz").json())
    assert (after.ready, after.version, after.items, after.store_version) == (True, "v1", 7, "v1")


def test_metrics_count_requests_by_route_template(served: httpx.Client) -> None:
    served.get("/items/a/similar")
    served.get("/items/b/similar")
    served.get("/items/nosuchitem/similar")
    served.get("/make_recommendation", params={"n": 0})
    text = served.get("/metrics").text
    assert (
        'dimrec_http_requests_total{method="GET",route="/items/{item}/similar",status="200"} 2.0'
        in text
    )
    assert (
        'dimrec_http_requests_total{method="GET",route="/items/{item}/similar",status="404"} 1.0'
        in text
    )
    assert (
        'dimrec_http_requests_total{method="GET",route="/make_recommendation",status="422"} 1.0'
        in text
    )
    assert (
        'dimrec_http_request_duration_seconds_bucket{le="+Inf",method="GET",'
        'route="/items/{item}/similar",status="200"} 2.0' in text
    )
    assert 'dimrec_model_version_info{version="v1"} 1.0' in text
    assert "dimrec_model_items 7.0" in text


# --- validation -------------------------------------------------------------------------
# serve_settings: max_n 20, max_input_items 8, max_shoppers 3


@pytest.mark.parametrize(
    ("params", "location", "says"),
    [
        ({"n": 0}, "query.n", "greater than or equal to 1"),
        ({"n": 21}, "query.n", "less than or equal to 20"),
        ({"n": "ten"}, "query.n", "integer"),
        ({"browsed": "a b"}, "query.browsed", "without control characters, spaces or commas"),
        ({"basket": "a,\x01"}, "query.basket", "without control characters"),
        ({"browsed": "a,,b"}, "query.browsed", "without control characters"),
        ({"purchased": "x" * 129}, "query.purchased", "1 to 128 characters"),
        ({"browsed": "a,b,c,d,e", "basket": "f,g,p,q"}, "request", "9 input items"),
        ({"keep_input": "perhaps"}, "query.keep_input", "boolean"),
    ],
)
def test_get_rejects_bad_input_with_422(
    served: httpx.Client, params: dict[str, object], location: str, says: str
) -> None:
    answer = served.get("/make_recommendation", params=params)
    assert answer.status_code == 422
    problem = ProblemPublic.model_validate(answer.json())
    assert says in problem.message
    if location != "request":
        assert problem.errors[0].location == location


def test_unknown_and_repeated_parameters_are_named_in_a_422(served: httpx.Client) -> None:
    answer = served.get("/make_recommendation?browse=a&basket=b&basket=c&n=2&n=3")
    assert answer.status_code == 422
    problem = ProblemPublic.model_validate(answer.json())
    assert [(e.location, e.message) for e in problem.errors] == [
        (
            "query.browse",
            "unknown parameter; this route takes browsed, basket, purchased, n, keep_input",
        ),
        (
            "query.basket",
            "given 2 times; give each parameter once (several items go in one value, "
            "comma-separated: a,b)",
        ),
        (
            "query.n",
            "given 2 times; give each parameter once (several items go in one value, "
            "comma-separated: a,b)",
        ),
    ]
    assert problem.message.startswith("invalid request: query.browse: unknown parameter")
    assert problem.message.endswith("(and 2 more problems)")
    similar = served.get("/items/a/similar?m=3")
    assert similar.status_code == 422
    assert similar.json()["errors"][0]["location"] == "query.m"
    for path in ("/readyz?verbose=1", "/metrics?format=json&format=text"):  # FastAPI routes
        refused = served.get(path)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["message"].startswith("unknown parameter")


@pytest.mark.parametrize(
    ("body", "location", "says"),
    [
        (b"{not json", "body", "not valid JSON"),
        (b"[]", "body", "JSON object"),
        (b"{}", "body.shoppers", "Field required"),
        (b'{"shoppers": []}', "body.shoppers", "at least 1 item"),
        (b'{"shoppers": [{}, {}, {}, {}]}', "body.shoppers", "at most 3 items"),
        (b'{"shoppers": [{"n": 0}]}', "body.shoppers.0.n", "greater than or equal to 1"),
        (b'{"shoppers": [{"n": 21}]}', "body.shoppers.0.n", "less than or equal to 20"),
        (
            b'{"shoppers": [{"items": [{"item": "a"}]}]}',
            "body.shoppers.0.items.0.with-action.action",
            "Field required",
        ),
        (
            b'{"shoppers": [{"items": [{"item": "a", "action": "stare"}]}]}',
            "body.shoppers.0.items.0.with-action.action",
            "'browse', 'basket' or 'purchase'",
        ),
        (
            b'{"shoppers": [{"items": [{"item": "a", "action": "browse", "weight": 1}]}]}',
            "body.shoppers.0.items.0.with-weight.action",
            "Extra inputs are not permitted",
        ),
        (
            b'{"shoppers": [{"items": [{"item": "a", "weight": -1}]}]}',
            "body.shoppers.0.items.0.with-weight.weight",
            "greater than or equal to 0",
        ),
        (
            b'{"shoppers": [{"items": [{"item": "a b", "action": "browse"}]}]}',
            "body.shoppers.0.items.0.with-action.item",
            "without control characters, spaces or commas",
        ),
        (
            b'{"shoppers": [{"items": [' + b",".join([b'{"item": "a", "weight": 1}'] * 9) + b"]}]}",
            "body.shoppers.0.items",
            "at most 8 items",
        ),
        (b'{"shoppers": [{"exclude": ["\\u0000"]}]}', "body.shoppers.0.exclude.0", "control"),
        (b'{"shoppers": [{"colour": "red"}]}', "body.shoppers.0.colour", "Extra inputs"),
        (b'{"shoppers": [{"items": [7]}]}', "body.shoppers.0.items.0", "item and action"),
    ],
)
def test_post_rejects_bad_bodies_with_422(
    served: httpx.Client, body: bytes, location: str, says: str
) -> None:
    answer = served.post(
        "/recommendations", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    problem = ProblemPublic.model_validate(answer.json())
    assert says in problem.message
    assert problem.errors[0].location == location


def test_other_methods_are_not_allowed_and_head_answers(served: httpx.Client) -> None:
    refused = served.post("/make_recommendation")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
    assert served.get("/recommendations").status_code == 405
    assert served.delete("/items/a/similar").status_code == 405
    head = served.head("/make_recommendation", params={"browsed": "a"})
    assert head.status_code == 200
    assert head.content == b""


def test_similar_rejects_bad_input_with_422(served: httpx.Client) -> None:
    assert served.get("/items/a/similar", params={"n": 0}).status_code == 422
    assert served.get("/items/" + "x" * 129 + "/similar").status_code == 422
    assert served.get("/items/a%20b/similar").status_code == 422


def test_openapi_documents_every_route_with_the_settings_limits(served: httpx.Client) -> None:
    schema = served.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/make_recommendation",
        "/recommendations",
        "/items/{item}/similar",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    n = next(
        p for p in schema["paths"]["/make_recommendation"]["get"]["parameters"] if p["name"] == "n"
    )
    assert n["schema"]["maximum"] == 20
    body = schema["paths"]["/recommendations"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][ref]["properties"]["shoppers"]["maxItems"] == 3
    ok = schema["paths"]["/make_recommendation"]["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/RecommendationPublic")
    assert served.get("/docs").status_code == 200


def test_the_jobs_api_names_an_unknown_parameter(serve_settings: Settings, store: Store) -> None:
    token = "a-token-long-enough-for-the-rule"
    queue = serve_settings.queue.model_copy(update={"token": token})
    settings = serve_settings.model_copy(update={"queue": queue})
    headers = {"authorization": f"Bearer {token}"}
    with (
        live_server(create_app(settings, store), settings.serve) as url,
        httpx.Client(base_url=url, headers=headers, timeout=10) as client,
    ):
        assert client.get("/jobs", params={"limit": 2}).status_code == 200
        refused = client.get("/jobs", params={"limt": 2})
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"location": "query.limt", "message": "unknown parameter; this route takes limit"}
        ]
