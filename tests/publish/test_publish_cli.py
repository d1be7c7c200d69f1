"""The publish commands as a user runs them: messages and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from publish_helpers import write_lists

from dimrec.cli import main
from dimrec.config import Settings
from ports import free_port

LISTS = {"a": [("b", 0.5)], "b": [("a", 0.5)], "c": [("a", 0.25)], "d": [("c", 0.125)]}


class Cli:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """Run ``dimrec ARGS``; the exit code and the output with whitespace squashed."""
        self.monkeypatch.setattr(sys, "argv", ["dimrec", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, " ".join(out.split()), " ".join(err.split())


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    monkeypatch.setenv("DIMREC_PATHS__DATA", settings.paths.data)
    monkeypatch.setenv("DIMREC_STORE__URL", settings.store.url)
    return Cli(monkeypatch, capsys)


def test_publish_versions_and_rollback(cli: Cli, settings: Settings) -> None:
    models = settings.paths.models_url()
    first = write_lists(models, LISTS, minute=1).version
    second = write_lists(models, LISTS, minute=2).version
    code, _, err = cli("versions")
    assert code == 3
    assert "no SQLite store at" in err
    assert "nothing has been published there yet" in err
    assert cli("publish", "--version", first)[:2] == (
        0,
        f"published {first}: 4 items, 4 neighbours (was none)",
    )
    code, out, _ = cli("publish")
    assert (code, out) == (0, f"published {second}: 4 items, 4 neighbours (was {first})")
    code, out, _ = cli("publish")
    assert code == 0
    assert f"version {second} is already current" in out
    assert "nothing to do" in out
    code, out, _ = cli("versions")
    assert code == 0
    assert f"{first} │ 4 │ 20" in out
    assert f"{second} │ 4 │ 20" in out
    assert out.index("current") > out.index(second)
    assert cli("rollback")[:2] == (0, f"current version: {first}")
    code, _, err = cli("rollback")
    assert code == 3
    assert f"no version older than {first}" in err
    assert cli("rollback", "--to", second)[:2] == (0, f"current version: {second}")


def test_publish_without_a_model(cli: Cli) -> None:
    code, _, err = cli("publish")
    assert code == 3
    assert "no trained model" in err
    assert "dimrec train" in err
    code, _, err = cli("publish", "--version", "latest")
    assert code == 3
    assert "not a model version name" in err


def test_the_shrink_guard_and_force(cli: Cli, settings: Settings) -> None:
    models = settings.paths.models_url()
    write_lists(models, LISTS, minute=1)
    cli("publish")
    small = write_lists(models, {"a": [("b", 0.5)]}, minute=2).version
    code, _, err = cli("publish")
    assert code == 6
    assert "1 items, 25% of the 4" in err
    assert "--force" in err
    assert "Traceback" not in err
    code, out, _ = cli("publish", "--force")
    assert code == 0
    assert f"published {small}: 1 items" in out


def test_hide_unhide_hidden(cli: Cli) -> None:
    assert cli("hide", "sku-1", "sku-2", "sku-1")[:2] == (
        0,
        "2 item(s) newly hidden; 2 hidden in all",
    )
    assert cli("hidden")[:2] == (0, "sku-1 sku-2")
    assert cli("unhide", "sku-1", "sku-9")[:2] == (0, "1 item(s) unhidden; 1 hidden in all")
    code, _, err = cli("hide", " ")
    assert code == 2
    assert "is empty" in err
    code, _, err = cli("hide")
    assert code == 2
    assert "at least one item id" in err


@pytest.mark.parametrize("given", ["A,B", "A B", "line\n", "x" * 129])
def test_hide_takes_the_item_id_rule(cli: Cli, given: str) -> None:
    """`dimrec hide A,B` hides neither A, B nor an item named "A,B": ids hold no commas."""
    code, _, err = cli("hide", "ok-1", given)
    assert code == 2
    assert "error: item id" in err
    assert "commas" in err or "characters long" in err
    assert cli("hidden")[:2] == (0, "")  # nothing hidden, not even the good id


def test_publish_refuses_a_model_with_ids_the_api_could_not_ask_for(
    cli: Cli, settings: Settings
) -> None:
    models = settings.paths.models_url()
    write_lists(models, {**LISTS, "e": [("SKU,B", 0.5)]}, minute=1)
    code, _, err = cli("publish")
    assert code == 6
    assert "1 item id(s) that break the item-id rule" in err
    assert "'SKU,B'" in err
    assert cli("versions")[1].startswith("no versions")


@pytest.mark.parametrize("command", [["versions"], ["hidden"], ["rollback"], ["unhide", "x"]])
def test_reading_a_store_that_is_not_there_creates_none(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A store path in a folder that does not exist (a typo in store.url): the read-only
    commands say there is no store, and create neither the folder nor an empty store."""
    missing = tmp_path / "no-such-folder" / "store.db"
    monkeypatch.setenv("DIMREC_STORE__URL", f"sqlite:///{missing}")
    code, _, err = cli(*command)
    assert code == 3
    assert f"no SQLite store at {missing}" in err
    assert not missing.parent.exists()
    missing.parent.mkdir()
    missing.write_bytes(b"")  # a file, but no store in it
    code, _, err = cli(*command)
    assert code == 3
    assert "holds no dimrec store" in err
    assert missing.read_bytes() == b""


def test_store_problems_are_one_line_errors(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIMREC_STORE__URL", "mongodb://localhost/x")
    code, _, err = cli("versions")
    assert code == 2
    assert "unknown scheme 'mongodb'" in err
    assert "sqlite:///" in err
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("DIMREC_STORE__URL", url)
    code, _, err = cli("hide", "x")
    assert code == 4
    assert f"Redis store {url} is unreachable" in err
    assert "Traceback" not in err


def test_help_lists_the_publish_commands(cli: Cli) -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("publish", "rollback", "versions", "hide", "unhide", "hidden"):
        assert command in out


def test_publish_prints_its_summary_on_stdout_and_logs_only_on_stderr(
    settings: Settings, tmp_path: Path
) -> None:
    """`dimrec publish > out.txt`: the file gets the summary, once, and no log record."""
    models = settings.paths.models_url()
    first = write_lists(models, LISTS, minute=1).version
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIMREC_")}
    env |= {"DIMREC_PATHS__DATA": settings.paths.data, "DIMREC_STORE__URL": settings.store.url}

    def dimrec(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dimrec", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)

    quiet = dimrec("publish")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert quiet.stdout == f"published {first}: 4 items, 4 neighbours (was none)\n"
    second = write_lists(models, LISTS, minute=2).version
    loud = dimrec("-vv", "publish")
    assert loud.returncode == 0
    assert loud.stdout == f"published {second}: 4 items, 4 neighbours (was {first})\n"
    records = loud.stderr.splitlines()
    assert any(" DEBUG dimrec.publish.publisher: verify took " in r for r in records)
    assert not any(second in r and "published" in r for r in records)  # said once, on stdout
