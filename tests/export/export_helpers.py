"""Helpers of the export tests: settings with another [export] section, small GA files
written by hand, and counts read back from written partitions."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dimrec.config import ExportSettings, Settings


def with_export(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with these ``[export]`` keys changed (validated like the file's)."""
    export = ExportSettings.model_validate({**settings.export.model_dump(), **changes})
    return settings.model_copy(update={"export": export})


def write_lines(path: Path, lines: Iterable[str | bytes]) -> Path:
    """Write lines (text or raw bytes) as a file, gzip when the name ends in .gz."""
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def product(sku: str | None, *, impression: bool | None = None) -> dict[str, Any]:
    return {"productSKU": sku, "isImpression": impression, "v2ProductName": "A thing"}


def hit(action_type: str, time_ms: int, *products: dict[str, Any]) -> dict[str, Any]:
    return {
        "hitNumber": 1,
        "time": time_ms,
        "eCommerceAction": {"action_type": action_type, "step": 1},
        "product": list(products),
    }


def session(user: str | None, start_s: int, *hits: dict[str, Any], date: str = "20261120") -> str:
    """One GA360 session as a JSON line, with a few fields the export does not read."""
    row = {
        "visitorId": None,
        "visitId": start_s,
        "visitStartTime": start_s,
        "date": date,
        "totals": {"hits": len(hits)},
        "fullVisitorId": user,
        "hits": list(hits),
    }
    return json.dumps(row)


def ga4_event(
    name: str, user: str | None, ts_us: int, *item_ids: str | None, date: str = "20261120"
) -> str:
    row = {
        "event_date": date,
        "event_timestamp": ts_us,
        "event_name": name,
        "user_pseudo_id": user,
        "items": [{"item_id": item, "item_name": "A thing"} for item in item_ids],
    }
    return json.dumps(row)


def action_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(row["action"] for row in rows)
    return {action: counts[action] for action in ("browse", "basket", "purchase")}
