"""The football data model, loaders, packaged sample and data-set discovery."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from scrapeline.testing.football import (
    DATA_ENV_VAR,
    FIRST_ID,
    SAMPLE_PLAYED,
    SAMPLE_SIZE,
    SAMPLE_UNPLAYED,
    Match,
    _decode_sample,
    _select_sample,
    build_sample,
    find_full_dataset,
    listing_key,
    load_full,
    load_sample,
    main,
)


def match(**overrides: Any) -> Match:
    fields: dict[str, Any] = {
        "id": FIRST_ID,
        "date": "2025-05-25",
        "time": "15:00",
        "season": "2024-25",
        "competition": "English Premier League 2024/25",
        "league": "en.1",
        "round": "Matchday 38",
        "team1": "Arsenal",
        "team2": "Chelsea",
        "ft": (2, 1),
        "ht": (0, 1),
    }
    fields.update(overrides)
    return Match(**fields)


@pytest.mark.parametrize(
    ("ft", "ht", "halves"),
    [
        ((2, 1), (0, 1), ((0, 1), (2, 0))),
        ((0, 0), (0, 0), ((0, 0), (0, 0))),
        ((3, 3), (3, 3), ((3, 3), (0, 0))),
        ((2, 1), None, None),
        (None, None, None),
        (None, (1, 0), None),
        ((1, 0), (2, 0), None),  # inconsistent data: half 2 would be negative
        ((1, 0), (1, 1), None),
    ],
)
def test_halves(
    ft: tuple[int, int] | None,
    ht: tuple[int, int] | None,
    halves: tuple[tuple[int, int], tuple[int, int]] | None,
) -> None:
    assert match(ft=ft, ht=ht).halves == halves


@pytest.mark.parametrize(("ft", "score"), [((2, 1), "2-1"), ((10, 0), "10-0"), (None, "")])
def test_score_text(ft: tuple[int, int] | None, score: str) -> None:
    assert match(ft=ft).score == score


def test_match_is_a_frozen_keyword_only_value() -> None:
    with pytest.raises(TypeError):
        Match(1, "2025-01-01")  # type: ignore[call-arg]
    m = match()
    with pytest.raises(AttributeError):
        m.team1 = "x"  # type: ignore[misc]
    assert m == match() and hash(m) == hash(match())


# -- load_full on a small, hand-made data set ------------------------------------------


def write(root: Path, season: str, league: str, name: str, matches: list[Any]) -> None:
    (root / season).mkdir(parents=True, exist_ok=True)
    (root / season / f"{league}.json").write_bytes(orjson.dumps({"name": name, "matches": matches}))


def raw(date: str, team1: str, time: str | None = None, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"round": "R1", "date": date, "team1": team1, "team2": "Opp"}
    if time is not None:
        m["time"] = time
    m.update(extra)
    return m


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    root = tmp_path / "openfootball"
    write(
        root,
        "2020-21",
        "en.1",
        "Premier League 2020/21",
        [
            raw("2021-05-01", "A", "15:00", score={"ft": [2, 1], "ht": [1, 1]}),
            raw("2021-05-01", "B", "9:30", score={}),
            raw("2021-05-01", "C"),  # no time: before any timed match that day
            raw("2021-04-01", "D", "20:00", score={"ft": [0, 0]}, status="awarded"),
        ],
    )
    write(
        root,
        "2020-21",
        "de.1",
        "Bundesliga 2020/21",
        [
            raw("2021-05-01", "E", "15:00"),  # same date and time as A: league "de.1" first
            raw("2021-05-01", "F", "15:00"),  # then index in file
        ],
    )
    write(root, "2021", "br.1", "Brasileirão 2021", [raw("2021-05-01", "G", "15:00")])
    (root / "README.md").write_text("not data")
    return root


def test_ids_follow_date_time_season_league_index(small_set: Path) -> None:
    matches = load_full(small_set)
    oldest_first = [m.team1 for m in sorted(matches, key=lambda m: m.id)]
    # 2021-05-01: no time < "9:30" (as "09:30") < "15:00"; at 15:00 season "2020-21" < "2021",
    # then league "de.1" < "en.1", then index in file.
    assert oldest_first == ["D", "C", "B", "E", "F", "A", "G"]
    assert sorted(m.id for m in matches) == list(range(FIRST_ID, FIRST_ID + 7))


def test_load_full_returns_newest_first(small_set: Path) -> None:
    matches = load_full(small_set)
    assert [m.team1 for m in matches] == ["G", "A", "F", "E", "B", "C", "D"]
    assert matches == sorted(matches, key=listing_key, reverse=True)


def test_load_full_maps_every_field(small_set: Path) -> None:
    by_team = {m.team1: m for m in load_full(small_set)}
    assert by_team["A"] == Match(
        id=by_team["A"].id,
        date="2021-05-01",
        time="15:00",
        season="2020-21",
        competition="Premier League 2020/21",
        league="en.1",
        round="R1",
        team1="A",
        team2="Opp",
        ft=(2, 1),
        ht=(1, 1),
    )
    assert (by_team["B"].time, by_team["B"].ft, by_team["B"].ht) == ("9:30", None, None)
    assert by_team["C"].time is None
    assert by_team["D"].ft == (0, 0) and by_team["D"].halves is None
    assert by_team["G"].season == "2021" and by_team["G"].competition == "Brasileirão 2021"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"name": "X"}', "'matches' list"),
        (b'{"name": "X", "matches": [42]}', "must be an object"),
        (b'{"name": "X", "matches": [{"date": "2021-01-01", "team1": "A"}]}', "team2"),
        (
            b'{"name": "X", "matches": [{"date": "2021-01-01", "team1": "A", "team2": "B",'
            b' "score": {"ft": [1]}}]}',
            "score must be",
        ),
        (
            b'{"name": "X", "matches": [{"date": "2021-01-01", "team1": "A", "team2": "B",'
            b' "time": 1500}]}',
            "'time' must be a string",
        ),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "2020").mkdir()
    (tmp_path / "2020" / "xx.1.json").write_bytes(content)
    with pytest.raises(ValueError, match=message) as raised:
        load_full(tmp_path)
    assert "xx.1.json" in str(raised.value)


def test_load_full_without_data_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_full(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        load_full(tmp_path)


# -- the sample ------------------------------------------------------------------------


def test_build_sample_is_deterministic_and_round_trips(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.json.zst", tmp_path / "b.json.zst"
    size = build_sample(small_set, first)
    assert main(["--build-sample", str(small_set), str(second)]) == 0
    assert f"{size:,} bytes" in capsys.readouterr().out
    assert first.read_bytes() == second.read_bytes()
    # Through the decoder load_sample() uses, ids included (the small set is
    # below both quotas, so every match is kept).
    assert _decode_sample(first.read_bytes()) == load_full(small_set)


def test_select_sample_takes_the_newest_played_and_unplayed(small_set: Path) -> None:
    full = load_full(small_set)  # newest first: G A F E B C D; played: A, D
    chosen = _select_sample(full, played=1, unplayed=2)
    assert [m.team1 for m in chosen] == ["G", "A", "F"]
    assert chosen == sorted(chosen, key=listing_key, reverse=True)
    # Input order does not matter; the result keeps the full-set ids.
    assert _select_sample(reversed(full), played=1, unplayed=2) == chosen
    assert [m.team1 for m in _select_sample(full, played=5, unplayed=0)] == ["A", "D"]
    assert _select_sample(full, played=0, unplayed=0) == []


def test_packaged_sample(football_sample: Sequence[Match]) -> None:
    resource = resources.files("scrapeline.testing") / "data" / "football-sample.json.zst"
    assert len(resource.read_bytes()) <= 200_000
    assert SAMPLE_SIZE == SAMPLE_PLAYED + SAMPLE_UNPLAYED == 3_040
    assert len(football_sample) == SAMPLE_SIZE
    assert len({m.id for m in football_sample}) == SAMPLE_SIZE
    assert list(football_sample) == sorted(football_sample, key=listing_key, reverse=True)
    assert sum(m.ft is None for m in football_sample) == SAMPLE_UNPLAYED
    assert sum(m.ft is not None for m in football_sample) == SAMPLE_PLAYED
    assert all(m.id >= FIRST_ID for m in football_sample)
    assert load_sample() == list(football_sample)


def test_sample_exercises_every_page_shape(football_sample: Sequence[Match]) -> None:
    assert any(m.halves for m in football_sample)
    assert any(m.ft is None for m in football_sample)
    assert any(m.ft is not None and m.halves is None for m in football_sample)
    assert any(m.time is None for m in football_sample)
    assert any("&" in m.team1 + m.team2 for m in football_sample)


# -- finding the full data set ---------------------------------------------------------


def test_find_full_dataset_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert find_full_dataset() == tmp_path


def test_find_full_dataset_refuses_a_wrong_environment_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=DATA_ENV_VAR):
        find_full_dataset()


def test_find_full_dataset_walks_up_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "shared" / "data" / "openfootball"
    data.mkdir(parents=True)
    repo = tmp_path / "checkout" / "src"
    repo.mkdir(parents=True)
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.chdir(repo)
    assert find_full_dataset() == data
