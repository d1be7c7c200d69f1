"""Readers during publishes see the old version or the new one, whole, never a mix."""

from __future__ import annotations

import threading
from pathlib import Path

from publish_helpers import band_of, item_id, write_banded

from dimrec.config import StoreSettings
from dimrec.errors import VersionNotFoundError
from dimrec.model import load_model
from dimrec.publish import publisher
from dimrec.publish.base import Store
from dimrec.publish.stores import open_store

ITEMS = 5000
NEIGHBOURS = 20
READERS = 8
SAMPLE = [item_id(k) for k in range(0, ITEMS, 97)]


class Reader(threading.Thread):
    """Resolves the current version, then reads a sample of its lists, over and over; on
    VersionNotFoundError (a version pruned after it was resolved) it resolves again."""

    def __init__(self, store: Store, bands: dict[str, int], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.store, self.bands, self.stop = store, bands, stop
        self.seen: dict[str, int] = {}
        self.problems: list[str] = []
        self.retries = 0
        self.first_read = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.read_once()
            except VersionNotFoundError:
                self.retries += 1
            except Exception as exc:
                self.problems.append(f"{type(exc).__name__}: {exc}")
            self.first_read.set()

    def read_once(self) -> None:
        version = self.store.current()
        assert version is not None
        found = self.store.neighbours(version, SAMPLE)
        bands = {band_of(s) for entry in found.values() for s in entry.scores}
        sizes = {len(entry.neighbours) for entry in found.values()}
        if len(found) != len(SAMPLE) or sizes != {NEIGHBOURS}:
            self.problems.append(f"{version}: {len(found)} lists of sizes {sizes}")
        elif bands != {self.bands[version]}:
            self.problems.append(f"{version} (band {self.bands[version]}) read bands {bands}")
        self.seen[version] = self.seen.get(version, 0) + 1


def test_readers_never_see_a_mix(store_url: str, tmp_path: Path) -> None:
    models = str(tmp_path / "models")
    written = [write_banded(models, ITEMS, NEIGHBOURS, band, minute=band) for band in (1, 2, 3)]
    bands = {m.version: band for band, m in zip((1, 2, 3), written, strict=True)}
    settings = StoreSettings(keep_versions=2)
    writer = open_store(store_url)
    shared = open_store(store_url)  # one handle shared by the reader threads
    stop = threading.Event()
    readers = [Reader(shared, bands, stop) for _ in range(READERS)]
    try:
        publisher.publish_model(writer, load_model(models, written[0].version), settings)
        for reader in readers:
            reader.start()
        for reader in readers:
            assert reader.first_read.wait(30)
        for model in written[1:]:
            publisher.publish_model(writer, load_model(models, model.version), settings)
        last = written[-1].version
        for _ in range(300):  # until every reader has read the last version a few times
            if all(r.seen.get(last, 0) >= 3 for r in readers):
                break
            stop.wait(0.1)
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
        writer.close()
        shared.close()
    problems = [p for r in readers for p in r.problems]
    assert problems == []
    assert all(r.seen.get(written[0].version, 0) >= 1 for r in readers)
    assert all(r.seen.get(last, 0) >= 3 for r in readers)
    assert [i.version for i in open_store(store_url).versions()] == [m.version for m in written[1:]]
