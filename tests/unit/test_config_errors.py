"""Every configuration problem is one line: the file, the line, the key and the reason
(or the variable, or the flag), and a ConfigError, which the CLI exits 2 with."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scrapeline import Context, Item, Pipeline
from scrapeline.errors import ConfigError
from scrapeline.ops.config import Flags, load_settings


def pipeline() -> Pipeline:
    pipe = Pipeline("football")

    @pipe.stage("overview", on="match")
    async def overview(ctx: Context, item: Item) -> None:
        return None

    @pipe.stage("lineups", on="match")
    async def lineups(ctx: Context, item: Item) -> None:
        return None

    return pipe


def error_of(
    tmp_path: Path,
    toml: str | None,
    *,
    profile: str | None = None,
    env: dict[str, str] | None = None,
    flags: Flags | None = None,
) -> str:
    if toml is not None:
        (tmp_path / "scrapeline.toml").write_text(textwrap.dedent(toml).lstrip())
    with pytest.raises(ConfigError) as caught:
        load_settings(
            str(tmp_path / "football.py"), pipeline(), profile=profile, env=env or {}, cli=flags
        )
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.exit_code == 2
    return message.replace(str(tmp_path / "scrapeline.toml"), "scrapeline.toml")


PROD = "workers = 4\n\n[profiles.dev]\nworkers = 1\n\n[profiles.prod]\n"

ERRORS: list[tuple[str, str, dict[str, object], str]] = [
    (
        "a wrong type, in a profile",
        PROD + 'workers = "16"\n',
        {},
        "scrapeline.toml:7: profiles.prod.workers: Input should be a valid integer",
    ),
    (
        "an unknown key",
        "wrokers = 4\n",
        {},
        "scrapeline.toml:1: wrokers: unknown key (this table takes data_dir, workers, rate, ",
    ),
    (
        "an unknown key in a profile's table",
        PROD + "[profiles.prod.output]\nquite = true\n",
        {},
        "scrapeline.toml:8: profiles.prod.output.quite: unknown key "
        "(this table takes quiet, items)",
    ),
    (
        "not TOML",
        "workers = 4\nrate = 5/s\n",
        {},
        "scrapeline.toml:2: not valid TOML: ",
    ),
    (
        "a value out of bounds",
        "# how many items at once\n\nworkers = 0\n",
        {},
        "scrapeline.toml:3: workers: Input should be greater than or equal to 1",
    ),
    (
        "a policy that does not exist",
        "[stages.overview]\nfailure_policy = 'sometimes'\n",
        {},
        "scrapeline.toml:2: stages.overview.failure_policy: Input should be 'continue', "
        "'fail-fast' or 'retry-at-end'",
    ),
    (
        "a stage the pipeline does not have",
        PROD + "[profiles.prod.stages.overveiw]\nfailure_policy = 'fail-fast'\n",
        {"profile": "prod"},
        "scrapeline.toml:8: stages.overveiw: the pipeline has no stage 'overveiw' "
        "(it has overview, lineups)",
    ),
    (
        "a rate that cannot work",
        "# politeness\nrate = 'fast'\n",
        {},
        "scrapeline.toml:2: rate: invalid rate 'fast': expected e.g. '2/s'",
    ),
    (
        "a duration that cannot be read",
        PROD + "max_duration = 'soon'\n",
        {"profile": "prod"},
        "scrapeline.toml:7: max_duration: invalid duration 'soon'",
    ),
    (
        "a notifier that is not a table",
        "notifiers = ['json://127.0.0.1/hook']\n",
        {},
        "scrapeline.toml:1: notifiers.0: Input should be a valid dictionary",
    ),
    (
        "a config value that is a table",
        "[config]\nseason = 2024\nteams = { home = 'x' }\n",
        {},
        "scrapeline.toml:3: config.teams: Input should be a valid string",
    ),
    (
        "a variable that is not set",
        "[config]\ntoken = 'Bearer ${API_TOKEN}'\n",
        {},
        "scrapeline.toml:2: config.token: the environment variable API_TOKEN is not set",
    ),
    (
        "a secret too short to hide",
        "[config]\ntoken = '${API_TOKEN}'\n",
        {"env": {"API_TOKEN": "ab"}},
        "scrapeline.toml:2: config.token: a ${...} value is a secret, and this one is shorter",
    ),
    (
        "an unknown profile names the ones there are",
        PROD,
        {"profile": "staging"},
        "unknown profile 'staging' (flag --profile): scrapeline.toml has dev, prod",
    ),
    (
        "an unknown profile from the environment",
        PROD,
        {"env": {"SCRAPELINE_PROFILE": "stagin"}},
        "unknown profile 'stagin' (env SCRAPELINE_PROFILE): scrapeline.toml has dev, prod",
    ),
    (
        "a profile with no file",
        None,
        {"profile": "prod"},
        "profile 'prod' (flag --profile): there is no scrapeline.toml and no [tool.scrapeline]",
    ),
    (
        "a variable of the wrong type",
        None,
        {"env": {"SCRAPELINE_WORKERS": "many"}},
        "SCRAPELINE_WORKERS: Input should be a valid integer",
    ),
    (
        "a variable that cannot work",
        None,
        {"env": {"SCRAPELINE_MAX_DURATION": "forever"}},
        "SCRAPELINE_MAX_DURATION: invalid duration 'forever'",
    ),
    (
        "a flag that cannot work",
        None,
        {"flags": Flags(settings={"rate": "fast"})},
        "--rate: invalid rate 'fast'",
    ),
    (
        "a failure policy flag that does not exist",
        None,
        {"flags": Flags(settings={"failure_policy": "never"})},
        "--failure-policy: Input should be 'continue', 'fail-fast' or 'retry-at-end'",
    ),
]


@pytest.mark.parametrize(
    ("toml", "given", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_a_problem_is_one_line_naming_where_and_why(
    tmp_path: Path, toml: str | None, given: dict[str, object], message: str
) -> None:
    assert error_of(tmp_path, toml, **given).startswith(message)  # type: ignore[arg-type]


def test_another_profiles_problems_are_found_too(tmp_path: Path) -> None:
    # a typo in prod fails a dev run: the whole file is checked, every time
    message = error_of(tmp_path, PROD + "wrkers = 2\n", profile="dev")
    assert message.startswith("scrapeline.toml:7: profiles.prod.wrkers: unknown key")


def test_a_pyproject_error_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "football"\n\n[tool.scrapeline]\ngrace = "long"\n'
    )
    with pytest.raises(ConfigError, match=r"pyproject.toml:5: grace: Input should be a valid"):
        load_settings(str(tmp_path / "football.py"), pipeline(), env={})


def test_a_notifier_apprise_cannot_use_is_refused_without_repeating_its_url(
    tmp_path: Path,
) -> None:
    (tmp_path / "scrapeline.toml").write_text(
        '[profiles.prod]\nnotifiers = [{ url = "${HOOK}" }]\n'
    )
    settings = load_settings(
        str(tmp_path / "football.py"),
        pipeline(),
        profile="prod",
        env={"HOOK": "nonsense://tok-secret-1234"},
    )
    with pytest.raises(ConfigError) as caught:
        settings.run()
    message = str(caught.value)
    assert "scrapeline.toml:2): notifiers[0].url:" in message
    assert "not a notification URL" in message and "tok-secret-1234" not in message
    assert "\n" not in message
