"""The effective settings: which layer wins, where each value came from, secrets from
the environment. Real files in tmp_path; the environment is passed in, not patched."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from scrapeline import Context, Item, Pipeline
from scrapeline.cli.flags import RunFlags
from scrapeline.errors import ConfigError
from scrapeline.ops.config import Effective, Flags, load_settings
from scrapeline.ops.config_file import key_lines, line_of


def pipeline() -> Pipeline:
    pipe = Pipeline("football", workers=3, rate="2/s")

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> None:
        return None

    return pipe


def settings(
    tmp_path: Path,
    toml: str | None = None,
    *,
    profile: str | None = None,
    env: dict[str, str] | None = None,
    flags: Flags | None = None,
    name: str = "scrapeline.toml",
) -> Effective:
    (tmp_path / "football.py").write_text("# the pipeline is passed in\n")
    if toml is not None:
        (tmp_path / name).write_text(textwrap.dedent(toml).lstrip())
    return load_settings(
        str(tmp_path / "football.py"), pipeline(), profile=profile, env=env or {}, cli=flags
    )


FILE = """
    workers = 5
    item_timeout = 60

    [profiles.prod]
    workers = 7
    grace = 5

    [profiles.dev]
    workers = 1
"""

# (what is given, the setting, its value, its source; "F" is the file's path)
PRECEDENCE: list[tuple[str, dict[str, Any], str, Any, str]] = [
    ("nothing: the built-in default", {"toml": None}, "item_timeout", 300.0, "default"),
    ("nothing: the pipeline's declaration", {"toml": None}, "workers", 3, "pipeline"),
    ("the file beats the pipeline", {}, "workers", 5, "F:1"),
    ("the file beats the default", {}, "item_timeout", 60, "F:2"),
    ("the profile beats the file", {"profile": "prod"}, "workers", 7, "profile prod (F:5)"),
    ("a profile's own setting", {"profile": "prod"}, "grace", 5, "profile prod (F:6)"),
    (
        "the profile leaves the rest of the file",
        {"profile": "prod"},
        "item_timeout",
        60,
        "F:2",
    ),
    (
        "SCRAPELINE_PROFILE chooses the profile",
        {"env": {"SCRAPELINE_PROFILE": "dev"}},
        "workers",
        1,
        "profile dev (F:9)",
    ),
    (
        "--profile beats SCRAPELINE_PROFILE",
        {"profile": "prod", "env": {"SCRAPELINE_PROFILE": "dev"}},
        "workers",
        7,
        "profile prod (F:5)",
    ),
    (
        "the environment beats the profile",
        {"profile": "prod", "env": {"SCRAPELINE_WORKERS": "8"}},
        "workers",
        8,
        "env SCRAPELINE_WORKERS",
    ),
    (
        "an empty variable is not set",
        {"profile": "prod", "env": {"SCRAPELINE_WORKERS": ""}},
        "workers",
        7,
        "profile prod (F:5)",
    ),
    (
        "a flag beats the environment",
        {"env": {"SCRAPELINE_WORKERS": "8"}, "flags": Flags(settings={"workers": 9})},
        "workers",
        9,
        "flag --workers",
    ),
    (
        "the environment beats the pipeline's rate",
        {"env": {"SCRAPELINE_RATE": "30/m"}},
        "rate",
        "30/m",
        "env SCRAPELINE_RATE",
    ),
    (
        "a boolean from the environment",
        {"env": {"SCRAPELINE_ARCHIVE": "false"}},
        "archive",
        False,
        "env SCRAPELINE_ARCHIVE",
    ),
    (
        "a delay range from the environment",
        {"env": {"SCRAPELINE_DELAY": "1,3"}},
        "delay",
        (1.0, 3.0),
        "env SCRAPELINE_DELAY",
    ),
    (
        "a nested setting's variable",
        {"env": {"SCRAPELINE_OUTPUT_QUIET": "1"}},
        "output.quiet",
        True,
        "env SCRAPELINE_OUTPUT_QUIET",
    ),
    (
        "--no-archive",
        {"flags": Flags(settings={"archive": False})},
        "archive",
        False,
        "flag --no-archive",
    ),
]


@pytest.mark.parametrize(
    ("given", "key", "value", "source"),
    [case[1:] for case in PRECEDENCE],
    ids=[case[0] for case in PRECEDENCE],
)
def test_each_layer_overrides_the_ones_below_it(
    tmp_path: Path, given: dict[str, Any], key: str, value: Any, source: str
) -> None:
    given = {"toml": FILE, **given}
    effective = settings(tmp_path, **given)
    assert effective[key].value == value
    assert effective[key].source == source.replace("F", str(tmp_path / "scrapeline.toml"))


def test_the_ctx_config_values_merge_key_by_key(tmp_path: Path) -> None:
    effective = settings(
        tmp_path,
        """
        [config]
        season = 2024
        league = "premier"
        region = "eu"

        [profiles.prod.config]
        league = "championship"
        """,
        profile="prod",
        flags=Flags(sets={"region": "us"}, secrets={"token": "t0k3n-xyz"}),
    )
    run = effective.run()
    assert run.config == {
        "season": 2024,
        "league": "championship",
        "region": "us",
        "token": "t0k3n-xyz",
    }
    assert effective["config.region"].source == "flag --set"
    assert effective["config.token"].secret and effective["config.token"].source == "flag --secret"
    assert effective.report()["settings"]["config.token"]["value"] == "***"


def test_set_and_secret_flags_win_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "scrapeline.toml").write_text('[config]\nseason = "2019"\ntoken = "from-file"\n')
    (tmp_path / "football.py").write_text("")
    flags = RunFlags(set_=["season=2024"], secret=["token=from-flag-123"])
    pipe = pipeline()
    run = flags.configure(str(tmp_path / "football.py"), pipe, env={}).run()
    options = flags.run_options(pipe, run)
    assert options.config == {"season": "2024", "token": "from-flag-123"}
    assert "from-flag-123" in run.secrets


def test_a_profile_replaces_the_notifiers_whole(tmp_path: Path) -> None:
    toml = """
        [[notifiers]]
        url = "json://127.0.0.1:9/all"

        [[notifiers]]
        file = "failures.log"

        [[profiles.prod.notifiers]]
        url = "ntfy://127.0.0.1:9/prod"
    """
    assert [n.url for n in settings(tmp_path, toml).run().notifiers] == [
        "json://127.0.0.1:9/all",
        None,
    ]
    prod = settings(tmp_path, toml, profile="prod")
    assert [n.url for n in prod.run().notifiers] == ["ntfy://127.0.0.1:9/prod"]
    assert prod["notifiers"].source == f"profile prod ({tmp_path / 'scrapeline.toml'}:7)"


def test_stage_policies_merge_stage_by_stage(tmp_path: Path) -> None:
    toml = """
        failure_policy = "retry-at-end"

        [profiles.prod.stages.overview]
        failure_policy = "fail-fast"
    """
    run = settings(tmp_path, toml, profile="prod").run()
    assert run.failure_policy == "retry-at-end"
    assert run.stage_policies == {"overview": "fail-fast"}


def test_what_the_pipeline_declares_is_left_to_it(tmp_path: Path) -> None:
    # None: the pipeline's own settings stay in force (the pipeline is not changed)
    run = settings(tmp_path, None).run()
    assert (run.rate, run.delay, run.base_url, run.concurrency, run.failure_policy) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert run.workers == 3
    prod = settings(
        tmp_path,
        """
        [profiles.prod]
        rate = 5
        delay = [0.5, 2]
        concurrency = 2
        base_url = "http://127.0.0.1:8000"
        max_duration = "2h"
        """,
        profile="prod",
    ).run()
    assert (prod.rate, prod.delay, prod.concurrency, prod.base_url) == (
        5,
        (0.5, 2.0),
        2,
        "http://127.0.0.1:8000",
    )
    assert prod.max_duration == 7200.0


def test_a_relative_data_dir_in_the_file_is_beside_the_file(tmp_path: Path) -> None:
    project = tmp_path / "pipelines"
    project.mkdir()
    effective = settings(project, 'data_dir = "data/football"\n')
    assert effective.run().data_dir == project / "data" / "football"
    from_env = settings(project, 'data_dir = "data/football"\n', env={"SCRAPELINE_DATA_DIR": "d"})
    assert from_env.run().data_dir == Path("d")
    # with no file, the default: data/NAME in the current directory
    assert settings(tmp_path, None).run().data_dir == Path("data/football")


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    toml = """
        base_url = "https://reader:${SITE_PASSWORD}@stats.example.org"

        [config]
        token = "${TOKEN}"

        [profiles.prod.config]
        token = "${PROD_TOKEN}"
    """
    env = {"TOKEN": "dev-token-1", "SITE_PASSWORD": "pw-42-secret"}
    effective = settings(tmp_path, toml, env=env)
    run = effective.run()
    assert run.config["token"] == "dev-token-1"
    assert run.base_url == "https://reader:pw-42-secret@stats.example.org"
    assert set(run.secrets) == {"dev-token-1", "pw-42-secret"}
    shown = effective.report()["settings"]
    assert shown["config.token"] == {
        "value": "***",
        "source": f"{tmp_path / 'scrapeline.toml'}:4",
        "secret": True,
    }
    assert shown["base_url"]["value"] == "***"
    assert "dev-token-1" not in str(effective.report())
    # only the values in force are read: the prod token needs PROD_TOKEN, not TOKEN
    prod = settings(tmp_path, toml, profile="prod", env={"PROD_TOKEN": "prod-token-9", **env})
    assert prod.run().config["token"] == "prod-token-9"


def test_pyproject_holds_the_settings_under_tool_scrapeline(tmp_path: Path) -> None:
    toml = """
        [project]
        name = "football"

        [tool.scrapeline]
        workers = 6

        [tool.scrapeline.profiles.prod]
        workers = 12
    """
    effective = settings(tmp_path, toml, profile="prod", name="pyproject.toml")
    assert effective["workers"].value == 12
    assert effective["workers"].source == f"profile prod ({tmp_path / 'pyproject.toml'}:8)"
    assert settings(tmp_path, None, name="pyproject.toml")["workers"].value == 6


def test_scrapeline_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.scrapeline]\nworkers = 6\n")
    effective = settings(tmp_path, "workers = 2\n")
    assert effective["workers"].source == f"{tmp_path / 'scrapeline.toml'}:1"
    assert effective.file is not None and effective.file.shadowed == tmp_path / "pyproject.toml"


def test_a_pyproject_without_the_table_is_no_configuration(tmp_path: Path) -> None:
    effective = settings(tmp_path, '[project]\nname = "x"\n', name="pyproject.toml")
    assert effective.file is None and effective["workers"].source == "pipeline"


def test_a_module_pipeline_reads_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scrapeline.toml").write_text("workers = 11\n")
    monkeypatch.chdir(tmp_path)
    effective = load_settings("scrapeline.demo.football:pipe", pipeline(), env={})
    assert effective["workers"].value == 11
    assert effective["workers"].source == "scrapeline.toml:1"


def test_the_flags_of_the_run_commands_become_settings() -> None:
    flags = RunFlags(
        workers=2,
        quiet=True,
        max_duration="90m",
        failure_policy="fail-fast",
        data_dir=Path("d"),
        archive=False,
    ).flags()
    assert dict(flags.settings) == {
        "workers": 2,
        "output.quiet": True,
        "max_duration": "90m",
        "failure_policy": "fail-fast",
        "data_dir": "d",
        "archive": False,
    }
    assert RunFlags().flags().settings == {}


def test_only_stage_selects_the_stages() -> None:
    pipe = pipeline()
    options = RunFlags(only_stage=["overview", "overview"]).run_options(pipe)
    assert options.stages == ("overview",)
    assert RunFlags().run_options(pipe).stages is None
    with pytest.raises(ConfigError, match="--skip-stage lineups: the pipeline has no stage"):
        RunFlags(skip_stage=["lineups"]).run_options(pipe)


def test_the_run_options_take_the_policies_and_the_time_limit(tmp_path: Path) -> None:
    toml = """
        failure_policy = "retry-at-end"
        max_duration = "2h"

        [stages.overview]
        failure_policy = "fail-fast"
    """
    (tmp_path / "scrapeline.toml").write_text(textwrap.dedent(toml))
    flags = RunFlags(skip_stage=["overview"], max_duration="90m")
    pipe = pipeline()
    run = flags.configure(str(tmp_path / "football.py"), pipe, env={}).run()
    options = flags.run_options(pipe, run)
    assert options.failure_policy == "retry-at-end"
    assert options.stage_policies == {"overview": "fail-fast"}
    assert options.max_duration == 5400.0  # the flag's 90m over the file's 2h
    assert options.skip_stages == ("overview",)
    # the pipeline's own policy is left to the runner (None), and shown as the pipeline's
    declared = Pipeline("strict", failure_policy="fail-fast")
    effective = load_settings(None, declared, env={})
    assert effective["failure_policy"].source == "pipeline"
    assert RunFlags().run_options(declared, effective.run()).failure_policy is None


# -- where each key is --------------------------------------------------------------

KEY_LINES = [
    ('workers = 4\n[profiles.prod]\nworkers = "x"\n', ("profiles", "prod", "workers"), 3),
    ("[profiles.prod]\nrate = 1\n", ("profiles", "prod", "workers"), 1),  # not there: its table
    ("profiles.prod.workers = 2\n", ("profiles", "prod", "workers"), 1),  # a dotted key
    ('[profiles."prod eu"]\n\n  workers = 2\n', ("profiles", "prod eu", "workers"), 3),
    ("[[notifiers]]\nurl = 'a'\n[[notifiers]]\nurl = 1\n", ("notifiers", "1", "url"), 4),
    ("[profiles]\nprod = { workers = 'x' }\n", ("profiles", "prod", "workers"), 2),  # inline
    ("# workers = 1\nworkers = 2\n", ("workers",), 2),  # a comment is not a key
    ("[config]\ntoken = 'a'\n[output]\nquiet = true\n", ("output", "quiet"), 4),
]


@pytest.mark.parametrize(("text", "key", "line"), KEY_LINES)
def test_the_line_of_a_key_is_found_by_a_scan(text: str, key: tuple[str, ...], line: int) -> None:
    assert line_of(key_lines(text), key) == line


def test_the_run_fetches_with_the_settings_above_the_pipeline(tmp_path: Path) -> None:
    from scrapeline.cli.flags import fetch_options
    from scrapeline.workspace.run import fetch_settings

    pipe = pipeline()
    toml = """
        [profiles.prod]
        delay = [1, 2]
        concurrency = 2
        base_url = "http://127.0.0.1:8000"
        archive = false
    """
    run = settings(tmp_path, toml, profile="prod").run()
    fetch = fetch_options(run)
    used = fetch_settings(pipe, fetch)
    assert (used.delay, used.concurrency, used.base_url, used.rate) == (
        (1.0, 2.0),
        2,
        "http://127.0.0.1:8000",
        "2/s",  # the pipeline's, not overridden
    )
    assert fetch.archive is False
    # a new value: the pipeline's own settings are unchanged
    assert (pipe.delay, pipe.concurrency, pipe.base_url) == (None, 8, None)
    # and the demo's own site wins over the configured one
    assert fetch_options(run, base_url="http://127.0.0.1:9999").base_url == "http://127.0.0.1:9999"
