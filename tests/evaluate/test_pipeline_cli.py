"""`dimrec evaluate` and `dimrec tune` end to end on exported events (day partitions)."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from evaluate_helpers import (
    SMALL_GRID,
    Row,
    closed_day_shop,
    day,
    decoy_shop,
    paired_shop,
    table,
    visits,
)
from typer.testing import CliRunner

from dimrec import partitions, tuned
from dimrec.cli import app, main
from dimrec.config import Settings, load_settings
from dimrec.errors import DataError
from dimrec.evaluate import flow
from dimrec.evaluate.datasets import DataSpec
from dimrec.evaluate.split import SplitSpec
from dimrec.evaluate.tune import TUNED, TuneGrid


def export(settings: Settings, days: int = 5, rows: list[Row] | None = None) -> None:
    """Write ``rows`` (default the paired shop) as the export would: a partition a day with
    events (a day without events has none)."""
    rows = paired_shop(days=days) if rows is None else rows
    store = partitions.events(settings.paths.events_url())
    for d in sorted({r[3] for r in rows}):
        store.write(day(d), table([r for r in rows if r[3] == d]))


def test_tune_validates_on_days_with_events_and_names_its_steps(settings: Settings) -> None:
    # Closed on day 5: the test is day 6, and validation tests on day 4, not the closed day.
    export(settings, rows=closed_day_shop(days=7, closed=(5,)))
    summary = flow.tune(settings, grid=SMALL_GRID, ks=(10,), baselines=False)
    result = summary.result
    assert result.validation == "time split: history ≤ 2026-03-04, test 2026-03-05…2026-03-05"
    assert result.test.split == "time split: history ≤ 2026-03-06, test 2026-03-07…2026-03-07"
    assert result.test.mode == "history"
    assert result.test.system(TUNED).mean("ndcg", 10) == pytest.approx(1.0)
    # A cut-off whose training period leaves one day with events: no validation split.
    with pytest.raises(DataError, match=r"^tune's validation split \(carved from the training"):
        flow.tune(settings, split=SplitSpec(cutoff=day(0)), grid=SMALL_GRID, baselines=False)
    with pytest.raises(DataError, match=r"^the test split .*no events in the 1 test day"):
        flow.tune(settings, split=SplitSpec(cutoff=day(4)), grid=SMALL_GRID, baselines=False)


def test_tune_on_two_validation_folds_scores_every_trial_on_both(settings: Settings) -> None:
    # The test is day 6; fold 1 tests day 4 (day 5 is closed), fold 2 moves back once more.
    export(settings, rows=closed_day_shop(days=7, closed=(5,)))
    summary = flow.tune(settings, grid=SMALL_GRID, ks=(10,), baselines=False, folds=2)
    result = summary.result
    assert result.validation == (
        "time split: history ≤ 2026-03-04, test 2026-03-05…2026-03-05; "
        "time split: history ≤ 2026-03-03, test 2026-03-04…2026-03-04"
    )
    assert result.test.split == "time split: history ≤ 2026-03-06, test 2026-03-07…2026-03-07"
    for trial in result.trials:
        assert len(trial.folds) == 2
        assert trial.ndcg == pytest.approx(sum(trial.folds) / 2)
    with pytest.raises(DataError, match=r"fold 5 of 9: the training period .* is too short"):
        flow.tune(settings, grid=SMALL_GRID, baselines=False, folds=9)


def test_tune_chooses_session_mode_for_session_data(settings: Settings) -> None:
    export(settings, rows=visits())
    summary = flow.tune(settings, grid=SMALL_GRID, ks=(10,), baselines=False)
    test = summary.result.test
    assert test.mode == "session"
    assert test.notes[0].startswith("session mode (only 0% of the test's 30 users")
    assert summary.config.mode == "session"
    # Each visitor's first item (the first half of three) asks for the next two in the ring.
    assert test.shoppers == 30
    assert test.system(TUNED).mean("hr", 10) == 1.0


def test_evaluate_writes_a_self_contained_report(settings: Settings) -> None:
    export(settings)
    result = flow.evaluate(
        settings,
        split=SplitSpec(cutoff=day(2)),
        systems=["exact", "dimsum:0.5", "rp3beta", "popularity"],
        ks=(1, 10),
    )
    assert result.evaluation.shoppers == 10
    assert result.evaluation.system("exact").mean("hr", 1) == 1.0
    assert result.reference == "popularity"
    html = Path(result.report_url).read_text("utf-8")
    assert html.count("<svg") >= 3  # metric vs k (2), threshold sweep, differences
    assert not re.search(r"(src|href)=\"https?://", html)  # nothing fetched from elsewhere
    data = json.loads(Path(result.report_url).with_name("report.json").read_text("utf-8"))
    exact = next(s for s in data["systems"] if s["name"] == "exact")
    assert exact["metrics"]["hr@1"] == 1.0
    assert exact["differences"]["ndcg@10"]["low"] > 0
    assert Path(result.report_url).parent.parent.name == "evaluations"


def test_exported_days_outside_the_window_are_not_read(settings: Settings) -> None:
    export(settings, days=5)
    # [train] window of 2 days before the cut-off (day 2): days 1–2, and the test day 3.
    narrow = load_settings(
        paths={"data": settings.paths.data}, train={"days_init": 2, "days_end": 1}
    )
    result = flow.evaluate(narrow, split=SplitSpec(cutoff=day(2)), systems=["exact"], ks=(10,))
    assert "history ≤ 2026-03-03" in result.evaluation.split
    assert result.evaluation.catalogue == 21


def test_tune_chooses_on_validation_and_writes_a_valid_fragment(settings: Settings) -> None:
    export(settings)
    grid = TuneGrid(
        algorithms=["exact", "rp3beta"],
        rp3_alpha=[1.0],
        rp3_beta=[0.0, 0.5],
        weighting=["none", "tfidf"],
        weights=[{"browse": 0.5, "basket": 2.0, "purchase": 6.0}],
        user_filters=[(2, 100), (1, 100)],
        half_life_days=[None],
        comparison_thresholds=[0.5],
    )
    steps: list[str] = []
    summary = flow.tune(
        settings,
        split=SplitSpec(cutoff=day(3)),
        grid=grid,
        ks=(10,),
        baselines=False,
        progress=lambda step, _done, _total: steps.append(step),
    )
    result = summary.result
    assert "history ≤ 2026-03-03" in result.validation  # one test day earlier, within history
    # The algorithm stage (2 weightings, 2 betas), then the user filter for each leader,
    # then blends of the two leaders: row-scaled, weights (0, 1), (1, 0), (½, 1), (1, ½),
    # (1, 1); max-scaled, the better leader at 1 and the other at 0.1, 0.25 or 0.5.
    assert len(result.trials) == 4 + 2 * 2 + 5 + 3
    blends = [t.config.params for t in result.trials if t.stage == "blend"]
    assert [p.blend_scale for p in blends] == ["row"] * 5 + ["max"] * 3
    best = {
        algorithm: max(t.ndcg for t in result.trials if t.config.params.algorithm == algorithm)
        for algorithm in ("exact", "rp3beta")
    }
    pairs = [(p.blend_rp3beta, p.blend_cosine) for p in blends[5:]]
    rp3beta_leads = [(1.0, 0.1), (1.0, 0.25), (1.0, 0.5)]
    cosine_leads = [(0.1, 1.0), (0.25, 1.0), (0.5, 1.0)]
    if best["exact"] == best["rp3beta"]:  # a tie: the first component leads
        assert pairs == rp3beta_leads
    else:
        assert pairs == (cosine_leads if best["exact"] > best["rp3beta"] else rp3beta_leads)
    assert {"algorithm", "shared: user_filter", "blend", "test"} <= set(steps)
    assert result.test.system(TUNED).mean("ndcg", 10) == pytest.approx(1.0)
    names = [s.name for s in result.test.systems]
    assert names[:3] == [TUNED, "cosine exact", "rp3beta"]
    assert "dimsum 0.5" in names
    assert "popularity" in names
    fragment = Path(summary.fragment_url)
    assert fragment.read_text("utf-8") == summary.fragment
    parsed = tomllib.loads(summary.fragment)
    assert parsed["train"]["algorithm"] == result.best.params.algorithm
    # The fragment is a valid dimrec.toml.
    loaded = load_settings(fragment)
    assert loaded.train.algorithm == result.best.params.algorithm
    assert loaded.train.min_items == result.best.params.min_items
    assert loaded.store.sim_cap == loaded.train.top_k == result.best.params.top_k


def test_retune_switches_only_to_a_better_configuration(settings: Settings) -> None:
    export(settings, rows=decoy_shop(days=6))
    # In use: [train] keeps one neighbour per item, the decoy; the choice may keep ten.
    in_use = load_settings(
        paths={"data": settings.paths.data}, train={"top_k": 1, "days_init": 6, "days_end": 0}
    )
    grid = SMALL_GRID.model_copy(
        update={"top_k": [1, 10], "blend_weights": [], "blend_max_weights": []}
    )
    as_of = day(5)  # the window: days 0..5 (days_end 0)
    first = flow.retune(in_use, as_of=as_of, grid=grid)
    assert first.current.endswith("K=1 (settings)")
    assert first.tune.result.best.params.top_k == 10
    assert first.difference is not None
    assert first.difference.low > 0
    assert first.switched
    applied = tuned.applied(in_use.paths.models_url())
    assert applied == first.tune.config
    decision = json.loads(
        Path(first.tune.report_url).with_name(flow.RETUNE_FILE).read_text("utf-8")
    )
    assert decision["switched"] is True
    assert decision["run"] == applied.run
    # Again: the choice is what is in use now, so nothing switches (the applied run stays).
    second = flow.retune(in_use, as_of=as_of, grid=grid)
    assert second.current.endswith(f"(applied tune {applied.run})")
    assert not second.switched
    assert second.difference is None
    assert "nothing to switch" in second.reason
    assert tuned.applied(in_use.paths.models_url()) == applied
    # A choice no better than the one in use does not switch either.
    tuned.apply(in_use.paths.models_url(), applied.model_copy(update={"run": "tune-kept"}))
    no_ten = grid.model_copy(update={"top_k": [1, 2]})  # K=2 holds b: as good as K=10
    third = flow.retune(in_use, as_of=as_of, grid=no_ten)
    assert not third.switched
    assert third.difference is not None
    assert third.difference.low <= 0
    assert tuned.applied(in_use.paths.models_url()).run == "tune-kept"  # type: ignore[union-attr]


def test_cli_evaluate_and_tune(settings: Settings, tmp_path: Path) -> None:
    export(settings)
    runner = CliRunner()
    config = tmp_path / "dimrec.toml"
    config.write_text(f'[paths]\ndata = "{settings.paths.data}"\n', "utf-8")
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "-c",
            str(config),
            "evaluate",
            "--cutoff",
            "2026-03-03",
            "-s",
            "exact",
            "-s",
            "popularity",
            "--k",
            "1,10",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exact" in result.output
    assert (out / "report.html").is_file()
    grid = tmp_path / "grid.toml"
    grid.write_text('algorithms = ["ease"]\nease_lambda = [1.0]\nuser_filters = [[2, 100]]\n')
    result = runner.invoke(
        app,
        [
            "-c",
            str(config),
            "tune",
            "--cutoff",
            "2026-03-04",
            "--grid",
            str(grid),
            "--no-baselines",
            "--out",
            str(tmp_path / "tuned"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert 'algorithm = "ease"' in (tmp_path / "tuned" / "dimrec.tuned.toml").read_text()


def test_cli_tables_are_whole_when_piped(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(settings)
    monkeypatch.delenv("COLUMNS", raising=False)  # piped: no terminal width to fit
    config = tmp_path / "dimrec.toml"
    config.write_text(f'[paths]\ndata = "{settings.paths.data}"\n', "utf-8")
    out = tmp_path / "report"
    systems = ["exact", "dimsum:0.5", "rp3beta", "popularity"]
    args = ["-c", str(config), "evaluate", "--cutoff", "2026-03-03", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, *(f"--system={s}" for s in systems)])
    assert result.exit_code == 0, result.output
    assert not re.search(r"\d\.\d*…", result.output)  # no number cut short ("0.40…")
    assert max(len(line) for line in result.output.splitlines()) > 80
    data = json.loads((out / "report.json").read_text("utf-8"))
    for system in data["systems"]:
        start = f"│ {system['name']} "
        row = next(line for line in result.output.splitlines() if line.startswith(start))
        cells = [c.strip() for c in row.split("│") if c.strip()]
        assert cells[0] == system["name"]
        shown = [float(c) for c in cells[1:6]]  # HR, P, R, NDCG, MAP at 10, whole
        expected = [system["metrics"][f"{m}@10"] for m in ("hr", "precision", "recall")]
        expected += [system["metrics"][f"{m}@10"] for m in ("ndcg", "map")]
        assert shown == pytest.approx(expected, abs=5e-5)


def test_cli_bad_input_is_a_clear_error(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "dimrec.toml"
    config.write_text(f'[paths]\ndata = "{settings.paths.data}"\n', "utf-8")
    monkeypatch.setenv("COLUMNS", "400")

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["dimrec", "-c", str(config), *args])
        with pytest.raises(SystemExit) as exited:
            main()
        return int(exited.value.code or 0), capsys.readouterr().err

    code, err = run("evaluate", "--per-user", "0.2", "--cutoff", "2026-03-03")
    assert code == 2
    assert "at most one" in err
    assert "Traceback" not in err
    code, err = run("evaluate", "--cutoff", "2026-03-03")
    assert code == 3
    assert "no exported events" in err
    code, err = run("evaluate", "--dataset", "movielens-100k")
    assert code == 2
    assert "--data-path" in err
    code, err = run("tune", "--grid", str(tmp_path / "missing.toml"))
    assert code == 2
    assert "does not exist" in err
    code, err = run("evaluate", "--k", "0,10")
    assert code == 2
    assert "--k" in err
    code, err = run("tune", "--folds", "0")
    assert code == 2
    assert "--folds" in err


def test_dataset_spec_needs_a_known_name(tmp_path: Path) -> None:
    from dimrec.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown data set"):
        DataSpec(dataset="netflix", path=str(tmp_path)).load("unused")
