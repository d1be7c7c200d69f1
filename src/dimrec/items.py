"""The item-id rule, the same at every stage: export keeps only ids that follow it (counting
the others as rejected rows, ``bad_item_id``), publish and ``dimrec hide`` refuse others, and
the HTTP API accepts exactly these. The patterns are RE2 as well as Python: DuckDB, BigQuery
and Arrow run them as they are.

An item id is 1 to 128 characters, none of them a control character (U+0000–U+001F,
U+007F–U+009F), a space or a comma. The comma is excluded so that the original
``browsed=a,b`` interface can carry any id; the rest keeps logs, keys and responses sane.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from dimrec.errors import InvalidInputError

ITEM_ID_MAX_LENGTH = 128
#: One character an item id may hold (a regex class, also valid in DuckDB's RE2).
ITEM_ID_CHAR = r"[^\x00-\x20\x7f-\x9f,]"
#: One item id.
ITEM_ID_PATTERN = rf"^{ITEM_ID_CHAR}{{1,{ITEM_ID_MAX_LENGTH}}}$"
#: A comma-separated list of item ids (possibly empty), as in ``browsed=a,b,c``.
ITEM_LIST_PATTERN = (
    rf"^(?:{ITEM_ID_CHAR}{{1,{ITEM_ID_MAX_LENGTH}}}"
    rf"(?:,{ITEM_ID_CHAR}{{1,{ITEM_ID_MAX_LENGTH}}})*)?$"
)
ITEM_ID_RULE = (
    f"item ids are 1 to {ITEM_ID_MAX_LENGTH} characters without control characters, "
    "spaces or commas"
)

_ITEM_ID = re.compile(ITEM_ID_PATTERN)


def is_item_id(value: object) -> bool:
    """Whether ``value`` follows the item-id rule."""
    return isinstance(value, str) and _ITEM_ID.fullmatch(value) is not None


def check_item_ids(items: Iterable[str]) -> list[str]:
    """Distinct item ids in first-seen order; an id that breaks the rule is an
    InvalidInputError naming it."""
    if isinstance(items, str):
        items = [items]
    seen: dict[str, None] = {}
    for item in items:
        if not is_item_id(item):
            raise InvalidInputError(f"item id {_shown(item)} {_problem(item)}")
        seen.setdefault(item, None)
    return list(seen)


def _problem(item: object) -> str:
    """What is wrong with an id that breaks the rule."""
    if not isinstance(item, str) or not item.strip():
        return "is empty; give a non-empty id"
    if len(item) > ITEM_ID_MAX_LENGTH:
        return f"is {len(item)} characters long; at most {ITEM_ID_MAX_LENGTH} are allowed"
    if any(unicodedata.category(ch) == "Cc" for ch in item):
        return f"contains control characters ({ITEM_ID_RULE})"
    return f"is not valid: {ITEM_ID_RULE}"


def _shown(item: object) -> str:
    """An id for a message: at most 40 characters of it."""
    if isinstance(item, str) and len(item) > 40:
        return repr(item[:40]) + "…"
    return repr(item)
