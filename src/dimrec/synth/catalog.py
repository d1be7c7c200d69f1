"""The synthetic shop's catalogue and shoppers, drawn once per seed.

Items belong to categories; popularity is Zipf-like (weight ∝ rank^-1.05 over a random
ranking), so a few items draw most of the attention. Apparel-like items come in sizes whose
SKUs carry a variant suffix (``GGOEAPQX104523-M``, ``NEST-NEQ4-104871-XL``); a share of base
SKUs have two hyphens without being variants (``NEST-NEQ4-104871``). Every shopper has a
preferred category (their taste, kept across visits) and an activity level drawn from a
heavy-tailed distribution, so some come back day after day and most rarely do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from dimrec.synth.render import IntArray, fragments, json_string

FloatArray = npt.NDArray[np.float64]

SIZES = ("XS", "S", "M", "L", "XL", "2XL")
COLOURS = ("BLK", "WHT", "BLU", "RED")
ZIPF_EXPONENT = 1.05
TWO_HYPHEN_SHARE = 0.07
"""Share of base SKUs written ``BRAND-CODE-NUMBER`` (two hyphens, not a variant)."""


@dataclass(frozen=True)
class CategorySpec:
    name: str
    path: str
    code: str
    sized: bool
    """Whether most of its items come in sizes (a variant suffix on basket/purchase SKUs)."""
    nouns: tuple[str, ...]
    price: float
    """Median price in dollars."""


CATEGORIES = (
    CategorySpec("Apparel", "apparel", "AP", True, ("Men's Tee", "Hoodie", "Polo", "Jacket"), 28),
    CategorySpec("Drinkware", "drinkware", "DW", False, ("Mug", "Tumbler", "Café Mug"), 14),
    CategorySpec("Bags", "bags", "BG", False, ("Backpack", "Tote", '15" Laptop Sleeve'), 45),
    CategorySpec("Office", "office", "OF", False, ("Notebook", "Pen Set", "Journal"), 9),
    CategorySpec("Electronics", "electronics", "EL", False, ("Power Bank", "Earbuds"), 35),
    CategorySpec("Headgear", "apparel/headgear", "HG", True, ("Cap", "Beanie", "Visor"), 20),
    CategorySpec("Lifestyle", "lifestyle", "LS", False, ("Umbrella", "Sunglasses"), 18),
    CategorySpec("Nest-USA", "nest/nest-usa", "NE", False, ("Cam IQ", "Thermostat"), 180),
    CategorySpec("Kids", "apparel/kids", "KD", True, ("Onesie", "Kids Tee"), 16),
    CategorySpec("Accessories", "accessories", "AC", False, ("Lanyard", "Keychain"), 6),
    CategorySpec("Bottles", "drinkware/water-bottles", "BT", False, ("Water Bottle",), 22),
    CategorySpec("Stickers", "office/stickers", "ST", False, ("Sticker Sheet", "Decal"), 3),
    CategorySpec("Wearables", "apparel/wearables", "WR", True, ("Socks", "Scarf"), 15),
    CategorySpec("Housewares", "lifestyle/housewares", "HW", False, ("Blanket", "Coaster"), 25),
    CategorySpec("Fun", "lifestyle/fun", "FN", False, ("Plush Toy", "Puzzle", "Yo-Yo"), 8),
    CategorySpec("Writing", "office/writing", "WI", False, ("Pencil", "Highlighter"), 4),
)
BRANDS = ("Google", "YouTube", "Android", "Chrome", "Waze", "Google Cloud")
COLOUR_NAMES = ("Black", "White", "Navy", "Charcoal", "Blue", "Red", "Green", "Ash")
PREFIX_BRANDS = ("NEST", "GGNE", "YTUB")

DEVICES = (  # deviceCategory, browser, operatingSystem, isMobile; weight
    ("desktop", "Chrome", "Macintosh", False, 0.62),
    ("mobile", "Safari", "iOS", True, 0.33),
    ("tablet", "Chrome", "Android", True, 0.05),
)
COUNTRIES = (  # country, continent, subContinent
    ("United States", "Americas", "Northern America"),
    ("India", "Asia", "Southern Asia"),
    ("United Kingdom", "Europe", "Northern Europe"),
    ("Canada", "Americas", "Northern America"),
    ("Germany", "Europe", "Western Europe"),
    ("Japan", "Asia", "Eastern Asia"),
    ("France", "Europe", "Western Europe"),
    ("Brazil", "Americas", "South America"),
)
TRAFFIC = (  # source, medium, channelGrouping; weight
    ("(direct)", "(none)", "Direct", 0.30),
    ("google", "organic", "Organic Search", 0.40),
    ("youtube.com", "referral", "Social", 0.12),
    ("google", "cpc", "Paid Search", 0.08),
    ("mall.googleplex.com", "referral", "Referral", 0.07),
    ("Partners", "affiliate", "Affiliates", 0.03),
)


@dataclass(frozen=True)
class Catalog:
    """Items, their categories and SKUs (base SKUs first, then variant SKUs)."""

    categories: tuple[CategorySpec, ...]
    category_labels: tuple[str, ...]
    """Display name per category (names repeat with a suffix when there are many)."""
    item_category: IntArray
    item_weight: FloatArray
    item_conversion: FloatArray
    """Multiplier of an item's add-to-cart probability (some items sell better)."""
    item_price: IntArray
    """Price in micros (dollars × 10⁶), whole cents."""
    item_flat_id: IntArray
    """Integer item id of the Retailrocket-style flat log."""
    item_names: tuple[str, ...]
    skus: tuple[str, ...]
    sku_item: IntArray
    sku_variant: tuple[str, ...]
    """Variant label per SKU; "(not set)" for base SKUs."""
    variant_start: IntArray
    variant_count: IntArray
    _global_cdf: FloatArray
    _by_category: IntArray
    _category_cdf: FloatArray
    _category_start: IntArray
    _category_end: IntArray

    @property
    def n_items(self) -> int:
        return len(self.item_category)

    def sample(self, rng: np.random.Generator, n: int) -> IntArray:
        """``n`` items drawn by global popularity."""
        found = np.searchsorted(self._global_cdf, rng.random(n), side="right")
        return np.minimum(found, self.n_items - 1).astype(np.int64)

    def sample_in(self, rng: np.random.Generator, category: IntArray) -> IntArray:
        """One item per entry of ``category``, drawn by popularity within that category."""
        found = np.searchsorted(self._category_cdf, category + rng.random(len(category)), "right")
        low, high = self._category_start[category], self._category_end[category] - 1
        return self._by_category[np.clip(found, low, high)]

    def sample_variant(self, rng: np.random.Generator, item: IntArray) -> IntArray:
        """A SKU per item: one of its variants when it has any, else its base SKU."""
        count = self.variant_count[item]
        offset = np.floor(rng.random(len(item)) * np.maximum(count, 1)).astype(np.int64)
        return np.where(count > 0, self.variant_start[item] + offset, item)


def build_catalog(rng: np.random.Generator, n_items: int) -> Catalog:
    """Draw a catalogue of ``n_items`` base items."""
    n_categories = int(np.clip(round(np.sqrt(n_items) / 3), 3, 4 * len(CATEGORIES)))
    specs = tuple(CATEGORIES[c % len(CATEGORIES)] for c in range(n_categories))
    labels = tuple(
        spec.name if c < len(CATEGORIES) else f"{spec.name} {c // len(CATEGORIES) + 1}"
        for c, spec in enumerate(specs)
    )
    category_weight = _zipf(rng.permutation(n_categories), 0.8)
    item_category = np.concatenate(
        [np.arange(n_categories), draw(rng, category_weight, n_items - n_categories)]
    )[: max(n_items, 0)]
    item_weight = _zipf(rng.permutation(n_items), ZIPF_EXPONENT)
    conversion = np.clip(rng.lognormal(0.0, 0.5, n_items), 0.2, 4.0)
    median = np.array([specs[c].price for c in item_category])
    price_cents = np.maximum(99, np.round(median * rng.lognormal(0.0, 0.45, n_items) * 100))
    flat_id = rng.choice(max(500_000, 10 * n_items), n_items, replace=False) + 1

    numbers = rng.permutation(n_items) + 100_000
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
    tags = alphabet[rng.integers(0, len(alphabet), (n_items, 2))]
    hyphenated = rng.random(n_items) < TWO_HYPHEN_SHARE
    sized = np.array([specs[c].sized for c in item_category])
    has_variants = np.where(sized, rng.random(n_items) < 0.8, rng.random(n_items) < 0.04)
    brands = rng.integers(0, len(BRANDS), n_items)
    colours = rng.integers(0, len(COLOUR_NAMES), n_items)
    prefixes = rng.integers(0, len(PREFIX_BRANDS), n_items)
    nouns = rng.integers(0, 1 << 30, n_items)

    skus: list[str] = []
    names: list[str] = []
    for i in range(n_items):
        spec = specs[item_category[i]]
        tag = f"{spec.code}{tags[i, 0]}{tags[i, 1]}"
        if hyphenated[i]:
            skus.append(f"{PREFIX_BRANDS[prefixes[i]]}-{tag}-{numbers[i]}")
        else:
            skus.append(f"GGOE{tag}{numbers[i]}")
        noun = spec.nouns[nouns[i] % len(spec.nouns)]
        names.append(f"{BRANDS[brands[i]]} {noun} {COLOUR_NAMES[colours[i]]}")
    sku_item = list(range(n_items))
    sku_variant = ["(not set)"] * n_items
    variant_start = np.zeros(n_items, np.int64)
    variant_count = np.zeros(n_items, np.int64)
    for i in np.flatnonzero(has_variants).tolist():
        suffixes = SIZES if sized[i] else COLOURS
        variant_start[i], variant_count[i] = len(skus), len(suffixes)
        skus.extend(f"{skus[i]}-{suffix}" for suffix in suffixes)
        sku_item.extend([i] * len(suffixes))
        sku_variant.extend(suffixes)

    by_category = np.argsort(item_category, kind="stable")
    sorted_category = item_category[by_category]
    start = np.searchsorted(sorted_category, np.arange(n_categories), "left")
    end = np.searchsorted(sorted_category, np.arange(n_categories), "right")
    within = np.empty(n_items)
    for c in range(n_categories):
        cumulative = np.cumsum(item_weight[by_category[start[c] : end[c]]])
        within[start[c] : end[c]] = cumulative / cumulative[-1]
        within[end[c] - 1] = 1.0
    global_cdf = np.cumsum(item_weight) / item_weight.sum()
    global_cdf[-1] = 1.0
    return Catalog(
        categories=specs,
        category_labels=labels,
        item_category=item_category.astype(np.int64),
        item_weight=item_weight,
        item_conversion=conversion,
        item_price=(price_cents * 10_000).astype(np.int64),
        item_flat_id=flat_id.astype(np.int64),
        item_names=tuple(names),
        skus=tuple(skus),
        sku_item=np.array(sku_item, np.int64),
        sku_variant=tuple(sku_variant),
        variant_start=variant_start,
        variant_count=variant_count,
        _global_cdf=global_cdf,
        _by_category=by_category.astype(np.int64),
        _category_cdf=sorted_category + within,
        _category_start=start.astype(np.int64),
        _category_end=end.astype(np.int64),
    )


@dataclass(frozen=True)
class Population:
    """The shop's shoppers: identifiers in each format, taste and activity."""

    visitor_ids: tuple[str, ...]
    """GA360 ``fullVisitorId`` (digits, as a string)."""
    pseudo_ids: tuple[str, ...]
    """GA4 ``user_pseudo_id`` (``random.firstTouchSeconds``)."""
    flat_ids: IntArray
    preferred_category: IntArray
    device: IntArray
    country: IntArray
    _activity_cdf: FloatArray

    @property
    def n_users(self) -> int:
        return len(self.preferred_category)

    def sample(self, rng: np.random.Generator, n: int) -> IntArray:
        """``n`` session owners, drawn by activity (heavy users come back often)."""
        found = np.searchsorted(self._activity_cdf, rng.random(n), side="right")
        return np.minimum(found, self.n_users - 1).astype(np.int64)


def build_population(rng: np.random.Generator, n_users: int, catalog: Catalog) -> Population:
    """Draw ``n_users`` shoppers whose taste follows the catalogue's category popularity."""
    category_weight = np.bincount(
        catalog.item_category, catalog.item_weight, len(catalog.categories)
    ).astype(np.float64)
    preferred = draw(rng, category_weight, n_users)
    activity = rng.lognormal(0.0, 1.2, n_users)
    cdf = np.cumsum(activity) / activity.sum()
    cdf[-1] = 1.0
    visitor = _unique_integers(rng, n_users, 10**17, 9 * 10**18)
    pseudo = _unique_integers(rng, n_users, 10**6, 10**10 - 1)
    touch = rng.integers(1_400_000_000, 1_700_000_000, n_users)
    return Population(
        visitor_ids=tuple(str(v) for v in visitor.tolist()),
        pseudo_ids=tuple(f"{p}.{t}" for p, t in zip(pseudo.tolist(), touch.tolist(), strict=True)),
        flat_ids=(rng.permutation(n_users) + 1).astype(np.int64),
        preferred_category=preferred.astype(np.int64),
        device=draw(rng, np.array([d[-1] for d in DEVICES]), n_users),
        country=draw(rng, _zipf(np.arange(len(COUNTRIES)), 1.3), n_users),
        _activity_cdf=cdf,
    )


def _zipf(rank: npt.NDArray[np.integer], exponent: float) -> FloatArray:
    weight: FloatArray = (np.asarray(rank, np.float64) + 1.0) ** -exponent
    return weight


def sku_literals(catalog: Catalog) -> pa.Array:
    """JSON literal of every SKU, then ``null`` and ``""`` (the two broken SKU states)."""
    return fragments([*(json_string(s) for s in catalog.skus), "null", '""'])


def sku_literal_index(catalog: Catalog, sku: IntArray, state: IntArray) -> IntArray:
    """Index into :func:`sku_literals`: the SKU itself, or its broken state (1 null, 2 "")."""
    index: IntArray = np.where(state == 0, sku, len(catalog.skus) + state - 1)
    return index


def draw(rng: np.random.Generator, weight: npt.ArrayLike, n: int) -> IntArray:
    """``n`` indexes into ``weight``, drawn with probability proportional to it."""
    cdf = np.cumsum(weight, dtype=np.float64)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    found: IntArray = np.searchsorted(cdf, rng.random(n), "right")
    return np.minimum(found, len(cdf) - 1)


def _unique_integers(rng: np.random.Generator, n: int, low: int, high: int) -> IntArray:
    """``n`` distinct integers in [low, high] (redrawing the rare collisions)."""
    values = rng.integers(low, high, n, dtype=np.int64, endpoint=True)
    while True:
        _, first = np.unique(values, return_index=True)
        if len(first) == n:
            return values
        duplicate = np.ones(n, bool)
        duplicate[first] = False
        values[duplicate] = rng.integers(low, high, int(duplicate.sum()), endpoint=True)
