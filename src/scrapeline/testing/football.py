"""Football results served by the rehearsal site: the data model and its loaders.

The data is openfootball's public-domain ``football.json`` (one directory per
season, one ``<league>.json`` file per competition). Two sources share one id
scheme:

- :func:`load_full` reads the whole directory (92,900 matches in the copy the
  project tests against);
- :func:`load_sample` reads the packaged subset (see *Sample* below), which
  needs nothing outside the installed package.

Contracts:

- **Stable ids.** All matches of the full set are sorted ascending by
  ``(date, time, season, league, index in file)`` (a missing time sorts as
  ``""``; ``"9:30"`` sorts as ``"09:30"``) and numbered from :data:`FIRST_ID`.
  The sample stores every match with its id, so a match has the same id in
  the sample and in the full set.
- **Listing order.** Both loaders return matches newest first:
  ``(date, time, id)`` descending, which is the order of the site's listing.
- **Halves.** A match has two halves iff both ``ft`` and ``ht`` are known and
  ``ft - ht`` is not negative; half 1 goals are ``ht``, half 2 goals are
  ``ft - ht``.
- **Sample.** The packaged sample holds the :data:`SAMPLE_PLAYED` (3,000)
  newest *played* matches of the full set (``ft`` known) plus the
  :data:`SAMPLE_UNPLAYED` (40) newest *unplayed* ones (``ft is None``, e.g.
  fixtures not played yet), "newest" in listing order. The data runs into
  future seasons, so plain "newest matches" would be mostly unplayed; the few
  unplayed ones keep the score-less page shape exercised. Ids are those of the
  full set, so they are not contiguous.
- Malformed files raise :class:`ValueError` naming the file.

Build the packaged sample (deterministic: same input, same bytes)::

    python -m scrapeline.testing.football --build-sample ../shared/data/openfootball \\
        src/scrapeline/testing/data/football-sample.json.zst

Example::

    from scrapeline.testing import load_sample

    newest = load_sample()[0]
    print(newest.id, newest.team1, newest.score, newest.halves)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import zstandard

__all__ = [
    "DATA_ENV_VAR",
    "FIRST_ID",
    "SAMPLE_PLAYED",
    "SAMPLE_SIZE",
    "SAMPLE_UNPLAYED",
    "Match",
    "build_sample",
    "find_full_dataset",
    "listing_key",
    "load_full",
    "load_sample",
]

FIRST_ID = 100_000
"""Id of the oldest match of the full set."""

SAMPLE_PLAYED = 3_000
"""How many played matches (``ft`` known) the packaged sample holds: the newest ones."""

SAMPLE_UNPLAYED = 40
"""How many unplayed matches (``ft is None``) the packaged sample holds: the newest ones."""

SAMPLE_SIZE = SAMPLE_PLAYED + SAMPLE_UNPLAYED
"""How many matches the packaged sample holds in all (3,040)."""

DATA_ENV_VAR = "SCRAPELINE_FOOTBALL_DATA"
"""Environment variable naming the full openfootball directory."""

_SAMPLE_RESOURCE = "football-sample.json.zst"
_SAMPLE_FORMAT = 1
_RELATIVE_FULL_DIR = Path("shared", "data", "openfootball")
_ZSTD_LEVEL = 19

Score = tuple[int, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    """One football match as the rehearsal site serves it.

    ``season`` is the data folder's name (``"2014-15"``, ``"2025"``),
    ``competition`` the file's display name, ``league`` the file stem
    (``"en.1"``). ``ft``/``ht`` are full-time and half-time scores, ``None``
    when unknown (e.g. a fixture not played yet).
    """

    id: int
    date: str
    time: str | None
    season: str
    competition: str
    league: str
    round: str | None
    team1: str
    team2: str
    ft: Score | None
    ht: Score | None

    @property
    def score(self) -> str:
        """Full-time score as the site prints it (``"2-1"``), ``""`` when unknown."""
        return "" if self.ft is None else f"{self.ft[0]}-{self.ft[1]}"

    @property
    def halves(self) -> tuple[Score, Score] | None:
        """Goals scored in half 1 and half 2, or ``None`` when not derivable."""
        if self.ft is None or self.ht is None:
            return None
        second = (self.ft[0] - self.ht[0], self.ft[1] - self.ht[1])
        if second[0] < 0 or second[1] < 0:
            return None
        return self.ht, second


def _time_key(time: str | None) -> str:
    """Sortable time: ``None`` → ``""``, ``"9:30"`` → ``"09:30"``."""
    if not time:
        return ""
    return time.zfill(5) if len(time) < 5 and ":" in time else time


def listing_key(match: Match) -> tuple[str, str, int]:
    """Sort key of the listing; sort with ``reverse=True`` for newest first."""
    return match.date, _time_key(match.time), match.id


def _newest_first(matches: Iterable[Match]) -> list[Match]:
    return sorted(matches, key=listing_key, reverse=True)


# -- reading openfootball files ---------------------------------------------------------


def _score(value: Any, where: str) -> Score | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{where}: score must be [int, int], got {value!r}")


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{where}: {key!r} must be a string, got {value!r}")


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"{where}: {key!r} must be a non-empty string, got {value!r}")


def _parse_file(path: Path) -> tuple[str, list[dict[str, Any]]]:
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("matches"), list):
        raise ValueError(f"{path}: expected an object with a 'matches' list")
    name = _required_str(document, "name", str(path))
    return name, document["matches"]


def _raw_fields(raw: Any, where: str) -> dict[str, Any]:
    """Fields of one openfootball match, validated, without the id."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a match must be an object")
    score = raw.get("score") or {}
    if not isinstance(score, dict):
        raise ValueError(f"{where}: 'score' must be an object")
    return {
        "date": _required_str(raw, "date", where),
        "time": _optional_str(raw, "time", where) or None,
        "round": _optional_str(raw, "round", where) or None,
        "team1": _required_str(raw, "team1", where),
        "team2": _required_str(raw, "team2", where),
        "ft": _score(score.get("ft"), where),
        "ht": _score(score.get("ht"), where),
    }


def _season_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"football data directory not found: {root}")
    files = sorted(p for p in root.glob("*/*.json") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no <season>/<league>.json files under {root}")
    return files


def load_full(path: str | os.PathLike[str]) -> list[Match]:
    """Every match under the openfootball directory ``path``, newest first.

    Ids follow the module's stable-id rule, so they match :func:`load_sample`.
    Raises :class:`FileNotFoundError` when ``path`` holds no season files and
    :class:`ValueError` for a malformed file.
    """
    unnumbered: list[tuple[tuple[str, str, str, str, int], dict[str, Any]]] = []
    for file in _season_files(Path(path)):
        season, league = file.parent.name, file.stem
        competition, raw_matches = _parse_file(file)
        for index, raw in enumerate(raw_matches):
            fields = _raw_fields(raw, f"{file} match #{index}")
            fields.update(season=season, league=league, competition=competition)
            key = (fields["date"], _time_key(fields["time"]), season, league, index)
            unnumbered.append((key, fields))
    unnumbered.sort(key=lambda pair: pair[0])
    matches = [Match(id=FIRST_ID + n, **fields) for n, (_, fields) in enumerate(unnumbered)]
    matches.reverse()
    return matches


# -- the packaged sample ----------------------------------------------------------------


def _to_record(match: Match) -> dict[str, Any]:
    return {
        "id": match.id,
        "date": match.date,
        "time": match.time,
        "season": match.season,
        "competition": match.competition,
        "league": match.league,
        "round": match.round,
        "team1": match.team1,
        "team2": match.team2,
        "ft": list(match.ft) if match.ft else None,
        "ht": list(match.ht) if match.ht else None,
    }


def _from_record(record: Mapping[str, Any]) -> Match:
    where = f"sample match {record.get('id')!r}"
    return Match(
        id=int(record["id"]),
        date=record["date"],
        time=record["time"],
        season=record["season"],
        competition=record["competition"],
        league=record["league"],
        round=record["round"],
        team1=record["team1"],
        team2=record["team2"],
        ft=_score(record["ft"], where),
        ht=_score(record["ht"], where),
    )


def _encode_sample(matches: Sequence[Match]) -> bytes:
    document = {"format": _SAMPLE_FORMAT, "matches": [_to_record(m) for m in matches]}
    raw = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True).compress(raw)


def _decode_sample(blob: bytes) -> list[Match]:
    document = orjson.loads(zstandard.ZstdDecompressor().decompress(blob))
    if not isinstance(document, dict) or document.get("format") != _SAMPLE_FORMAT:
        raise ValueError("football sample: unknown format")
    return _newest_first(_from_record(r) for r in document["matches"])


def _select_sample(
    matches: Iterable[Match], *, played: int = SAMPLE_PLAYED, unplayed: int = SAMPLE_UNPLAYED
) -> list[Match]:
    """The ``played`` newest played and ``unplayed`` newest unplayed of ``matches``.

    Newest first (listing order). Fewer are taken when ``matches`` has fewer.
    """
    ordered = _newest_first(matches)
    chosen = [m for m in ordered if m.ft is not None][:played]
    chosen += [m for m in ordered if m.ft is None][:unplayed]
    return _newest_first(chosen)


def build_sample(full_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Write the packaged sample of the openfootball directory ``full_dir`` to ``out``.

    The sample is the :data:`SAMPLE_PLAYED` newest played matches (``ft`` known)
    plus the :data:`SAMPLE_UNPLAYED` newest unplayed ones (``ft is None``),
    :data:`SAMPLE_SIZE` in all, with their full-set ids. Deterministic: the same
    input gives the same bytes. Returns the size written.
    """
    blob = _encode_sample(_select_sample(load_full(full_dir)))
    Path(out).write_bytes(blob)
    return len(blob)


def load_sample() -> list[Match]:
    """The packaged sample, newest first.

    :data:`SAMPLE_SIZE` matches: the :data:`SAMPLE_PLAYED` newest played matches
    of the full set and its :data:`SAMPLE_UNPLAYED` newest unplayed ones, with
    their full-set ids (not contiguous).
    """
    resource = resources.files("scrapeline.testing") / "data" / _SAMPLE_RESOURCE
    return _decode_sample(resource.read_bytes())


# -- finding the full set ---------------------------------------------------------------


def find_full_dataset() -> Path | None:
    """Where the full openfootball directory is, or ``None`` if it cannot be found.

    Looks, in order, at the :data:`DATA_ENV_VAR` environment variable, then for
    ``shared/data/openfootball`` beside each ancestor of the current directory,
    then beside each ancestor of this package. A set but missing environment
    path raises :class:`FileNotFoundError` rather than being silently ignored.
    """
    configured = os.environ.get(DATA_ENV_VAR, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{DATA_ENV_VAR}={configured} is not a directory")
        return path
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for ancestor in (start, *start.parents):
            candidate = ancestor / _RELATIVE_FULL_DIR
            if candidate.is_dir():
                return candidate
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scrapeline.testing.football --build-sample FULL_DIR OUT``."""
    parser = argparse.ArgumentParser(
        prog="python -m scrapeline.testing.football",
        description="Build the packaged football sample from the full openfootball data.",
    )
    parser.add_argument(
        "--build-sample", nargs=2, metavar=("FULL_DIR", "OUT"), required=True, type=Path
    )
    args = parser.parse_args(argv)
    full_dir, out = args.build_sample
    size = build_sample(full_dir, out)
    print(f"wrote {out} ({size:,} bytes, at most {SAMPLE_SIZE:,} matches)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
