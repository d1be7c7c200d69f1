"""The local engine on the engine contract, and what it does ahead of the similarity step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dimrec.errors import DataError, EngineError
from dimrec.params import TrainParams
from dimrec.train.base import TrainResult
from dimrec.train.local import algorithms, cosine
from dimrec.train.local.engine import LocalEngine
from train.engine_contract import FILTER, EngineContract, Shopped, write_profiles


class TestLocalEngine(EngineContract):
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> LocalEngine:
        return LocalEngine(threads=2)

    def test_a_failed_load_ahead_changes_nothing(
        self, exact: TrainResult, shopped: Shopped, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The kernels are loaded on a thread while the matrix is built; when that fails,
        the similarity step loads them itself and the model is the same."""
        calls: list[str] = []

        def broken() -> None:
            calls.append("load")
            raise RuntimeError("no kernels here")

        monkeypatch.setattr(cosine, "load_kernels", broken)
        params = TrainParams(algorithm="exact", top_k=1000, **FILTER)
        result = LocalEngine(threads=2).train(shopped[1], params)
        assert calls == ["load"]
        assert result.neighbours.equals(exact.neighbours)

    def test_a_blend_with_cosine_loads_the_kernels_ahead_too(
        self, shopped: Shopped, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        params = TrainParams(algorithm="blend", blend_sequential=0.0, top_k=1000, **FILTER)
        loaded = LocalEngine(threads=2).train(shopped[1], params)
        calls: list[str] = []

        def broken() -> None:
            calls.append("load")
            raise RuntimeError("no kernels here")

        monkeypatch.setattr(cosine, "load_kernels", broken)
        assert LocalEngine(threads=2).train(shopped[1], params).neighbours.equals(loaded.neighbours)
        assert calls == ["load"]
        without_cosine = params.model_copy(update={"blend_cosine": 0.0, "blend_ease": 1.0})
        LocalEngine(threads=2).train(shopped[1], without_cosine)
        assert calls == ["load"]  # no cosine component: nothing loaded ahead

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_scores_in_the_window_are_refused(
        self, engine: LocalEngine, tmp_path: Path, bad: float
    ) -> None:
        urls = write_profiles(tmp_path, [("u1", "A", 1.0), ("u1", "B", bad), ("u2", "A", 2.0)])
        with pytest.raises(DataError, match="1 of the window's profile scores are NaN or inf"):
            engine.train(urls, TrainParams(min_items=1))


def test_an_algorithm_without_a_local_kernel_is_an_engine_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(EngineError, match="no kernel for algorithm 'pagerank'"):
        algorithms.kernel("pagerank")
    monkeypatch.setitem(algorithms.KERNELS, "ease", ("dimrec.train.local.nowhere", "fit"))
    with pytest.raises(EngineError, match=r"ease kernel \(dimrec.train.local.nowhere.fit\)"):
        algorithms.kernel("ease")
    monkeypatch.setitem(algorithms.KERNELS, "ease", ("dimrec.train.local.ease", "nothing"))
    with pytest.raises(EngineError, match="is not available"):
        algorithms.kernel("ease")


_SIGNATURES = """
    import json
    import numpy as np
    import scipy.sparse as sp
    from dimrec.params import TrainParams
    from dimrec.train.local import cosine, kernels

    def signatures():
        names = ["count_scores", "column_norms", "item_order", "column_counts", "layout_rows",
                 "half_rows_topk", "count_deliveries", "place_deliveries", "finish_lists",
                 "compact_lists", "count_sampled", "sample_rows"]
        return {name: sorted(map(str, getattr(kernels, name).signatures)) for name in names}

    cosine.load_kernels()
    ahead = signatures()
    rng = np.random.default_rng(5)
    matrix = sp.random(3000, 400, density=0.02, format="csr", random_state=rng) * 6
    for algorithm in ("exact", "dimsum"):
        params = TrainParams(top_k=20, algorithm=algorithm, threshold=0.3)
        cosine.compute_neighbours(matrix, params, threads=2)
    print(json.dumps({"ahead": ahead, "after": signatures()}))
"""


def test_loading_ahead_loads_what_training_calls() -> None:
    """In a fresh process, :func:`cosine.load_kernels` loads every kernel with the very
    signatures exact and DIMSUM training then call: nothing is left to load in the
    similarity step."""
    script = textwrap.dedent(_SIGNATURES)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert all(found["ahead"].values())
    assert found["after"] == found["ahead"]
