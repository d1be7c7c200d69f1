"""Request and response models of the HTTP API, named by role (``...Request``, ``...Public``).

Item ids follow the one rule of :mod:`dimrec.items`.

Limits that come from the settings (``serve.max_n``, ``serve.max_input_items``,
``serve.max_shoppers``) are part of the published schema: :func:`request_models` builds the
request models of one app from its settings; the routes validate with them and the OpenAPI
document is generated from them, so it states exactly what the server accepts.

Response models document the API; the routes serialise plain dicts with orjson (see
:mod:`dimrec.serve.responses`), and the tests and the schemathesis fuzz check that what they
send matches these models.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from dimrec.config import Action, ServeSettings, WeightsSettings
from dimrec.items import ITEM_ID_MAX_LENGTH, ITEM_ID_PATTERN, ITEM_ID_RULE, ITEM_LIST_PATTERN

#: Largest explicit weight one input item may carry.
MAX_WEIGHT = 1e6

ItemId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ITEM_ID_MAX_LENGTH,
        pattern=ITEM_ID_PATTERN,
        description=ITEM_ID_RULE,
        examples=["GGOEGAAX0104"],
    ),
]


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; strict validation would not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: How many recommendations; an integer (5.0 is read as 5, as JSON Schema allows).
Count = Annotated[int, BeforeValidator(_integral)]


class _Request(BaseModel):
    # strict: JSON types as the schema states them (no "1" for 1, no 0 for false)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Query(BaseModel):
    # query strings are text: "10" is read as 10 and "true" as true, as FastAPI would; a
    # parameter the model does not name is refused (dimrec.serve.problems.parse_query)
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------


class ActionInteractionRequest(_Request):
    """An item the shopper acted on; it weighs the action's weight from the settings."""

    item: ItemId
    action: Action = Field(description="browse, basket or purchase")


class WeightedInteractionRequest(_Request):
    """An item with an explicit weight, instead of an action."""

    item: ItemId
    weight: float = Field(ge=0, le=MAX_WEIGHT, description="The item's weight w_i.")


def _interaction_form(value: Any) -> str | None:
    if isinstance(value, dict):
        return "with-weight" if "weight" in value else "with-action"
    if isinstance(value, WeightedInteractionRequest):
        return "with-weight"
    if isinstance(value, ActionInteractionRequest):
        return "with-action"
    return None


#: An input item with an action or a weight (exactly one: the schema says ``oneOf``). Problems
#: are located under the form that was read, e.g. ``items.0.with-weight.weight``.
InteractionRequest = Annotated[
    Annotated[ActionInteractionRequest, Tag("with-action")]
    | Annotated[WeightedInteractionRequest, Tag("with-weight")],
    Discriminator(
        _interaction_form,
        custom_error_type="interaction_form",
        custom_error_message="an input item is an object with item and action, or item and weight",
    ),
]


class ShopperRequestBase(_Request):
    """One shopper: what they did, how many recommendations, what to leave out."""

    id: str | None = Field(
        None, max_length=ITEM_ID_MAX_LENGTH, description="Echoed back, to match answers."
    )
    items: Sequence[InteractionRequest] = Field(
        default=(),
        description="Items and actions; an item listed k times weighs k times its weight.",
    )
    n: Count = Field(10, ge=1, description="How many recommendations.")
    exclude: Sequence[ItemId] = Field(default=(), description="Items never to return.")
    keep_input: bool = Field(False, description="Also return items the shopper acted on.")


class RecommendationsRequestBase(_Request):
    """Several shoppers in one call; the answer lists them in the same order."""

    shoppers: Sequence[ShopperRequestBase]


class RecommendationQueryBase(_Query):
    """The query of ``GET /make_recommendation``."""

    browsed: str = ""
    basket: str = ""
    purchased: str = ""
    n: int = 10
    keep_input: bool = False


class SimilarItemsQueryBase(_Query):
    """The query of ``GET /items/{item}/similar``."""

    n: int = 10


class ItemPath(_Query):
    """The path of ``GET /items/{item}/similar``."""

    item: ItemId


@dataclass(frozen=True)
class RequestModels:
    """The request models of one server, with its limits in their schemas."""

    recommendation_query: type[RecommendationQueryBase]
    recommendations_body: type[RecommendationsRequestBase]
    similar_items_query: type[SimilarItemsQueryBase]


def request_models(limits: ServeSettings, weights: WeightsSettings) -> RequestModels:
    """Build the request models with ``limits`` (``serve.*``) stated in their schemas."""
    default_n = min(limits.default_n, limits.max_n)
    max_items = limits.max_input_items

    def item_list(verb: str, weight: float) -> Any:
        return Field(
            "",
            pattern=ITEM_LIST_PATTERN,
            max_length=max_items * (ITEM_ID_MAX_LENGTH + 1),
            description=(
                f"Comma-separated items the shopper {verb}; each mention weighs {weight:g}. "
                f"{ITEM_ID_RULE}. At most {max_items} items in browsed, basket and purchased "
                "together."
            ),
        )

    def count(what: str) -> Any:
        return Field(default_n, ge=1, le=limits.max_n, description=f"How many {what}.")

    class RecommendationQuery(RecommendationQueryBase):
        __doc__ = RecommendationQueryBase.__doc__

        browsed: str = item_list("browsed", weights.browse)
        basket: str = item_list("put in the basket", weights.basket)
        purchased: str = item_list("purchased", weights.purchase)
        n: int = count("recommendations")
        keep_input: bool = Field(False, description="Also return the items given as input.")

    class SimilarItemsQuery(SimilarItemsQueryBase):
        __doc__ = SimilarItemsQueryBase.__doc__

        n: int = count("neighbours")

    class ShopperRequest(ShopperRequestBase):
        __doc__ = ShopperRequestBase.__doc__

        items: Sequence[InteractionRequest] = Field(
            default=(),
            max_length=max_items,
            description="Items and actions; an item listed k times weighs k times its weight.",
        )
        n: Count = count("recommendations")
        exclude: Sequence[ItemId] = Field(
            default=(), max_length=max_items, description="Items never to return."
        )

    class RecommendationsRequest(RecommendationsRequestBase):
        __doc__ = RecommendationsRequestBase.__doc__

        shoppers: Sequence[ShopperRequest] = Field(min_length=1, max_length=limits.max_shoppers)

    return RequestModels(RecommendationQuery, RecommendationsRequest, SimilarItemsQuery)


# --- responses --------------------------------------------------------------------------


class ScoredItemPublic(_Public):
    item: str
    score: float = Field(
        description="Σ_i w_i · sim(i, item); the popularity score when the answer is a fallback."
    )


class RecommendationPublic(_Public):
    """The answer of ``GET /make_recommendation``."""

    results: list[ScoredItemPublic]
    version: str = Field(description="Model version that answered.")
    elapsed_ms: float = Field(description="Time spent computing the answer on the server.")
    fallback: bool = Field(
        description="True when no input item was known and the most popular items answered."
    )


class ShopperRecommendationsPublic(_Public):
    id: str | None
    results: list[ScoredItemPublic]
    fallback: bool


class RecommendationsPublic(_Public):
    """The answer of ``POST /recommendations``: one block per shopper, in request order."""

    shoppers: list[ShopperRecommendationsPublic]
    version: str
    elapsed_ms: float


class SimilarItemsPublic(_Public):
    """An item's neighbour list, best first."""

    item: str
    results: list[ScoredItemPublic]
    version: str
    elapsed_ms: float


class HealthPublic(_Public):
    status: Literal["ok"]


class ReadinessPublic(_Public):
    ready: bool
    version: str | None = Field(description="The loaded model version.")
    items: int = Field(description="Items with a neighbour list in the loaded version.")
    hidden: int = Field(description="Hidden items (never recommended).")
    loaded_at: str | None = Field(description="When the loaded version was loaded (UTC).")
    store_version: str | None = Field(description="The store's current version when last seen.")
    last_error: str | None = Field(description="The last failure to read the store, if any.")
    store_up: bool = Field(description="The last poll of the store succeeded.")
    retry_in_seconds: float | None = Field(
        description="When a version failed to load: seconds until it is tried again."
    )
    store_replaced: int = Field(
        description="Times the store was found replaced (its file deleted and made again)."
    )
    store_replaced_at: str | None = Field(description="When it was last found replaced (UTC).")
    index: str | None = Field(
        description="Where the loaded version came from: its mapped index file, or store entries."
    )
    load_seconds: float | None = Field(description="How long loading the version took.")


class ProblemDetailPublic(_Public):
    location: str = Field(description="Where the problem is, e.g. query.n or body.shoppers.0.n.")
    message: str


class ProblemPublic(_Public):
    """An error: what was wrong and, where there is one, what to do."""

    message: str
    errors: list[ProblemDetailPublic] = Field(default_factory=list)
