"""The applied tune: where train reads it, what wins over what, what the manifest says."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dimrec import model, pipeline, tuned
from dimrec.cli import app
from dimrec.config import Settings, load_settings
from dimrec.errors import IntegrityError, InvalidInputError, MissingDataError
from dimrec.params import TrainParams
from dimrec.publish.stores import open_store
from dimrec.tuned import TunedConfig, config_of
from train.train_helpers import write_events

AS_OF = dt.date(2026, 11, 21)
#: Two days of a shop where A, B and E go together, and C with D.
DAYS = {
    AS_OF - dt.timedelta(days=n): [
        (f"u{n}{k}", item, "purchase")
        for k in range(3)
        for item in (("A", "B", "E") if k % 2 else ("C", "D"))
    ]
    for n in (1, 2)
}


def choice(**params: object) -> TunedConfig:
    chosen = TrainParams(
        algorithm="rp3beta",
        rp3_beta=0.25,
        top_k=7,
        min_items=1,
        weights={"browse": 1.0, "basket": 4.0, "purchase": 8.0},
        **params,  # type: ignore[arg-type]
    )
    return config_of(
        chosen,
        run="tune-20261120T010203004Z",
        report="models/evaluations/tune-20261120T010203004Z/report.html",
        created_at="2026-11-20T01:02:03+00:00",
        dataset="exported events",
        validation="time split: history ≤ 2026-11-18, test 2026-11-19…2026-11-19",
        mode="history",
        window_days=2,
        sim_cap=chosen.top_k,
        scores={"validation_ndcg@10": 0.5},
    )


def with_file(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "dimrec.toml"
    config.write_text(f'[paths]\ndata = "{tmp_path / "var"}"\n{text}', "utf-8")
    return load_settings(config)


def test_only_the_chosen_algorithms_parameters_are_kept() -> None:
    config = choice()
    assert config.params["algorithm"] == "rp3beta"
    assert config.params["rp3_beta"] == 0.25
    assert "ease_lambda" not in config.params  # another algorithm's parameter
    assert "threshold" not in config.params
    assert config.params["half_life_days"] is None


def test_precedence_command_line_then_tune_then_settings(tmp_path: Path) -> None:
    settings = with_file(
        tmp_path,
        '[train]\nalgorithm = "dimsum"\nthreshold = 0.3\ntop_k = 20\nhalf_life_days = 30.0\n'
        "days_init = 10\n[weights]\nbasket = 3.0\n",
    )
    params, applied = pipeline.training_params(settings)
    assert applied is None
    assert (params.algorithm, params.top_k, params.weights["basket"]) == ("dimsum", 20, 3.0)
    assert pipeline.training_window(settings) == (10, 1)

    tuned.apply(settings.paths.models_url(), choice())
    params, applied = pipeline.training_params(settings)
    assert applied is not None
    assert applied.run == "tune-20261120T010203004Z"
    assert (params.algorithm, params.rp3_beta, params.top_k) == ("rp3beta", 0.25, 7)
    assert params.weights == {"browse": 1.0, "basket": 4.0, "purchase": 8.0}
    assert params.half_life_days is None  # the tune chose no decay: the settings' 30 goes
    assert params.threshold == 0.3  # not the tune's algorithm's: the settings' value stays
    assert pipeline.training_window(settings) == (2, 1)  # the tune's two-day window

    params, _ = pipeline.training_params(settings, {"top_k": 9, "rp3_beta": None})
    assert (params.top_k, params.rp3_beta) == (9, 0.25)  # the command line wins, None ignored
    with pytest.raises(InvalidInputError, match="top_k"):
        pipeline.training_params(settings, {"top_k": 0})

    assert tuned.clear(settings.paths.models_url())
    assert not tuned.clear(settings.paths.models_url())
    assert pipeline.training_params(settings)[0].algorithm == "dimsum"


def test_the_fragment_layered_with_c_gives_what_apply_gives(tmp_path: Path) -> None:
    base = (
        '[train]\nalgorithm = "exact"\ntop_k = 20\n[weights]\nbasket = 3.0\n[store]\nsim_cap = 50\n'
    )
    settings = with_file(tmp_path, base)
    config = choice(half_life_days=14.0)
    text = tuned.fragment(config, ["a comment", "another"])
    parsed = tomllib.loads(text)  # valid TOML on its own, each table once
    assert set(parsed) == {"weights", "train", "store"}
    fragment = tmp_path / "dimrec.tuned.toml"
    fragment.write_text(text, "utf-8")
    layered = load_settings([tmp_path / "dimrec.toml", fragment])
    tuned.apply(settings.paths.models_url(), config)
    applied, _ = pipeline.training_params(settings)
    assert layered.train_params() == applied
    assert layered.store.sim_cap == config.sim_cap == 7
    assert (layered.train.days_init, layered.train.days_end) == pipeline.training_window(settings)


def test_train_names_the_tune_run_and_publish_keeps_its_lists(tmp_path: Path) -> None:
    settings = with_file(
        tmp_path,
        f'[train]\nalgorithm = "exact"\n[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n'
        "sim_cap = 1\n",
    )
    write_events(settings, DAYS)
    plain = pipeline.train(settings, as_of=AS_OF, days_init=2, days_end=1)
    assert plain.manifest.tuned_by is None
    assert plain.manifest.params.algorithm == "exact"
    pipeline.publish(settings, plain.version)
    with open_store(settings.store.url) as store:
        assert store.neighbours(plain.version, "A")["A"].neighbours == ("B",)  # sim_cap 1

    tuned.apply(settings.paths.models_url(), choice())
    trained = pipeline.train(settings, as_of=AS_OF)
    manifest = trained.manifest
    assert manifest.tuned_by == "tune-20261120T010203004Z"
    assert manifest.params.algorithm == "rp3beta"
    assert manifest.params.weights["basket"] == 4.0
    assert (manifest.window.days_init, manifest.window.days_end) == (2, 1)
    assert json.loads(Path(trained.url, "manifest.json").read_text())["tuned_by"] == (
        "tune-20261120T010203004Z"
    )
    pipeline.publish(settings, trained.version)
    with open_store(settings.store.url) as store:
        # sim_cap = 1 in the settings, but the tuned model keeps its lists as evaluated.
        assert store.neighbours(trained.version, "A")["A"].neighbours == ("B", "E")
    # Explicit parameters bypass the applied tune: nothing to name.
    explicit = pipeline.train(settings, as_of=AS_OF, params=settings.train_params())
    assert explicit.manifest.tuned_by is None


def test_a_manifest_without_tuned_by_still_loads(tmp_path: Path) -> None:
    settings = with_file(tmp_path, "")
    write_events(settings, DAYS)
    trained = pipeline.train(settings, as_of=AS_OF, days_init=2, days_end=1)
    path = Path(trained.url, "manifest.json")
    data = json.loads(path.read_text())
    del data["tuned_by"]  # as written before the field existed
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert model.load_model(settings.paths.models_url()).manifest.tuned_by is None


def test_an_unreadable_applied_tune_is_an_integrity_error(tmp_path: Path) -> None:
    settings = with_file(tmp_path, "")
    url = Path(tuned.applied_url(settings.paths.models_url()))
    url.parent.mkdir(parents=True)
    url.write_text('{"run": "x"}')
    with pytest.raises(IntegrityError, match=r"tuned\.json is not a tuned configuration"):
        pipeline.training_params(settings)
    with pytest.raises(MissingDataError, match=r"no tuned\.json in"):
        tuned.apply_run(settings.paths.models_url(), str(tmp_path / "nowhere"))


def test_cli_tuned_shows_applies_and_clears(tmp_path: Path) -> None:
    settings = with_file(tmp_path, "")
    config = tmp_path / "dimrec.toml"
    runner = CliRunner()
    result = runner.invoke(app, ["-c", str(config), "tuned"])
    assert result.exit_code == 0, result.output
    assert "no tune applied" in result.output
    run = Path(settings.paths.models_url()) / "evaluations" / choice().run
    run.mkdir(parents=True)
    (run / tuned.TUNED_FILE).write_bytes(choice().to_json())
    result = runner.invoke(app, ["-c", str(config), "tuned", "--apply", choice().run])
    assert result.exit_code == 0, result.output
    assert f"applied tune {choice().run}" in result.output
    assert "rp3_beta" in result.output
    assert tuned.applied(settings.paths.models_url()) == choice()
    result = runner.invoke(app, ["-c", str(config), "tuned", "--clear"])
    assert result.exit_code == 0, result.output
    assert tuned.applied(settings.paths.models_url()) is None
