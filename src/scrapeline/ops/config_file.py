"""The configuration file: where it is, what it may hold, and its errors in one line.

One file beside the pipeline holds its run settings: ``scrapeline.toml``, or the
``[tool.scrapeline]`` table of a ``pyproject.toml`` (``scrapeline.toml`` wins when
both exist). It is looked for in the pipeline file's directory, or in the current
directory for a ``module:name`` pipeline. Settings at the top level apply to every
run; named profiles under ``[profiles.NAME]`` hold the same settings, one table each::

    workers = 4
    data_dir = "data/football"

    [config]
    token = "${FOOTBALL_TOKEN}"

    [profiles.prod]
    workers = 16
    rate = "5/s"

    [profiles.prod.stages.overview]
    failure_policy = "fail-fast"

The file is parsed with ``tomllib`` and checked by the pydantic models below (no
unknown key, strict types: ``workers = "4"`` is an error, ``item_timeout = 30`` is
fine). Every problem is one line naming the file, the line, the key and the reason::

    scrapeline.toml:7: profiles.prod.workers: Input should be a valid integer

``tomllib`` gives no positions, so the line of a key is found by a small scan of the
file's lines (:func:`key_lines`): it follows the ``[table]`` and ``[[array]]``
headers and notes where each ``key =`` (dotted keys included) first appears. A key
inside an inline table or a multi-line value is not seen; its error points at the
nearest enclosing table or key it did see.

>>> lines = key_lines('workers = 4\\n\\n[profiles.prod]\\nworkers = "x"\\n')
>>> lines[("profiles", "prod", "workers")], line_of(lines, ("profiles", "prod", "rate"))
(4, 3)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from scrapeline.durations import parse_duration
from scrapeline.errors import ConfigError
from scrapeline.fetch.limits import parse_rate
from scrapeline.loader import split_target

FILE_NAME = "scrapeline.toml"
PYPROJECT = "pyproject.toml"

FailurePolicy = Literal["continue", "fail-fast", "retry-at-end"]
"""What happens when an item fails: go on, stop the run, or try it once more at the end."""

ConfigValue = str | int | float | bool
"""What a ``[config]`` value (a stage's ``ctx.config``) may be."""

RESOLVED = "resolved"
"""Validation context key: set once ``${...}`` values are replaced, when the values'
meaning (a rate, a duration) is checked too."""


Seconds = Annotated[float, Field(ge=0)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StageSettings(_Table):
    """``[stages.NAME]``: settings of one stage."""

    failure_policy: FailurePolicy | None = None


class OutputSettings(_Table):
    """``[output]``: what the console prints."""

    quiet: bool | None = None
    """Only the summary and errors."""
    items: bool | None = None
    """A line per item (unset: on; false: off, e.g. for cron)."""


Age = str | Annotated[float, Field(gt=0)]
"""An age: ``"24h"``, ``"3d"``, ``"90m"`` or seconds."""


def _an_age(value: str | float | None, info: ValidationInfo) -> str | float | None:
    """A duration's text as seconds, once ``${...}`` values are filled in."""
    if isinstance(value, str) and _resolved(info):
        try:
            return parse_duration(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


class TableFreshness(_Table):
    """``[freshness] TABLE = { column = "date", max_age = "3d" }``: the newest value of
    the table's column in the latest snapshot is at most that old."""

    column: str
    max_age: Age

    @field_validator("max_age")
    @classmethod
    def _an_age(cls, value: str | float, info: ValidationInfo) -> str | float | None:
        return _an_age(value, info)


class FreshnessSettings(BaseModel):
    """``[freshness]``: how old the published data may be. ``max_age`` for the latest
    snapshot itself; every other key names a table (:class:`TableFreshness`)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    __pydantic_extra__: dict[str, TableFreshness] = Field(init=False)

    max_age: Age | None = None

    @field_validator("max_age")
    @classmethod
    def _an_age(cls, value: str | float | None, info: ValidationInfo) -> str | float | None:
        return _an_age(value, info)

    def tables(self) -> dict[str, TableFreshness]:
        """Each table's rule, by table name."""
        return dict(self.model_extra or {})


class RunSettings(_Table):
    """The settings of a run, at the top level of the file or in a profile. Each is
    unset (None) unless the table sets it."""

    data_dir: str | None = None
    """Relative to the file's directory."""
    workers: Annotated[int, Field(ge=1, le=1024)] | None = None
    rate: str | Annotated[float, Field(gt=0)] | None = None
    """Requests per second to each host: ``"5/s"``, ``"30/m"`` or a number."""
    delay: Seconds | Annotated[tuple[Seconds, Seconds], Field(strict=False)] | None = None
    """Seconds between requests to a host, or a ``[low, high]`` range; used instead of
    ``rate`` when set, as in ``Pipeline(delay=...)``."""
    concurrency: Annotated[int, Field(ge=1)] | None = None
    base_url: str | None = None
    archive: bool | None = None
    item_timeout: Seconds | None = None
    """Seconds; 0 for no limit."""
    grace: Seconds | None = None
    max_consecutive_failures: Annotated[int, Field(ge=0)] | None = None
    failure_policy: FailurePolicy | None = None
    max_duration: str | Annotated[float, Field(gt=0)] | None = None
    """The whole run's limit: ``"2h"``, ``"90m"`` or seconds."""
    stages: dict[str, StageSettings] | None = None
    output: OutputSettings | None = None
    notifiers: list[dict[str, Any]] | None = None
    """Where alerts go: a list of tables (``[[notifiers]]``)."""
    config: dict[str, ConfigValue] | None = None
    """The stages' ``ctx.config`` values."""
    freshness: FreshnessSettings | None = None
    """How old the published data may be (``scrapeline freshness``)."""

    @field_validator("rate")
    @classmethod
    def _a_rate(cls, value: str | float | None, info: ValidationInfo) -> str | float | None:
        if value is not None and _resolved(info):
            try:
                parse_rate(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("max_duration")
    @classmethod
    def _a_duration(cls, value: str | float | None, info: ValidationInfo) -> str | float | None:
        if isinstance(value, str) and _resolved(info):
            try:
                return parse_duration(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


class FileSettings(RunSettings):
    """The whole file: run settings, and the profiles that override them."""

    profiles: dict[str, RunSettings] | None = None


def _resolved(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(RESOLVED))


# -- finding and reading the file ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    """A read and checked configuration file."""

    path: Path
    """As found: beside the pipeline, relative when the pipeline was named so."""
    settings: FileSettings
    lines: Mapping[tuple[str, ...], int]
    """The line of each key path (:func:`key_lines`), the ``[tool.scrapeline]`` prefix
    of a pyproject.toml taken off."""
    shadowed: Path | None = None
    """A pyproject.toml with a ``[tool.scrapeline]`` table, ignored for ``path``."""

    def line(self, key: Sequence[str]) -> int | None:
        """The line of ``key`` (or of the nearest enclosing key or table seen)."""
        return line_of(self.lines, tuple(key))

    def where(self, key: Sequence[str]) -> str:
        """``file:LINE`` of ``key``, or just the file when no line is known."""
        number = self.line(key)
        return f"{self.path}:{number}" if number else str(self.path)


def config_dir(target: str) -> Path:
    """Where the configuration of pipeline ``target`` is looked for: the pipeline
    file's directory, or the current directory for a ``module:name``.

    >>> config_dir("pipelines/football.py"), config_dir("scrapeline.demo.football:pipe")
    (PosixPath('pipelines'), PosixPath('.'))
    """
    spec, _ = split_target(target)
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return Path(spec).parent
    return Path()


def find_config(directory: Path) -> ConfigFile | None:
    """The configuration file in ``directory``, read and checked; None when there is
    none. Raises ConfigError (one line: file, line, key, reason) for a file that is
    not TOML, or holds an unknown key or a value of the wrong type."""
    own, pyproject = directory / FILE_NAME, directory / PYPROJECT
    tool = _tool_table(pyproject) if pyproject.is_file() else None
    if own.is_file():
        return read_config(own, shadowed=pyproject if tool is not None else None)
    if tool is not None:
        return read_config(pyproject)
    return None


def read_config(path: Path, *, shadowed: Path | None = None) -> ConfigFile:
    """Read and check ``path`` (a scrapeline.toml, or a pyproject.toml's
    ``[tool.scrapeline]``). Raises ConfigError as :func:`find_config` does."""
    text = _read(path)
    data = _parse(path, text)
    prefix: tuple[str, ...] = ()
    if path.name == PYPROJECT:
        prefix = ("tool", "scrapeline")
        data = data.get("tool", {}).get("scrapeline", {})
    lines = {
        key[len(prefix) :]: n for key, n in key_lines(text).items() if key[: len(prefix)] == prefix
    }
    try:
        settings = FileSettings.model_validate(data)
    except ValidationError as exc:
        key, reason = first_error(exc, data)
        number = line_of(lines, key)
        shown = ".".join(key) or "(top level)"
        raise ConfigError(f"{path}:{number or 1}: {shown}: {reason}") from None
    return ConfigFile(path=path, settings=settings, lines=lines, shadowed=shadowed)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _AT_LINE.search(str(exc))
        reason = _AT_LINE.sub("", str(exc)).strip()
        where = f"{path}:{found.group(1)}" if found else str(path)
        raise ConfigError(f"{where}: not valid TOML: {reason}") from None


def _tool_table(pyproject: Path) -> dict[str, Any] | None:
    """A pyproject.toml's ``[tool.scrapeline]``, or None when it has none."""
    table = _parse(pyproject, _read(pyproject)).get("tool", {}).get("scrapeline")
    return table if isinstance(table, dict) else None


def first_error(exc: ValidationError, data: Any) -> tuple[tuple[str, ...], str]:
    """The first of pydantic's errors as (key path in ``data``, reason). The path
    leaves out the names pydantic gives a union's members; an unknown key's reason
    names the keys its table takes."""
    error = exc.errors()[0]
    key: list[str] = []
    node = data
    for part in error["loc"]:
        in_table = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_table or in_list:  # else it is the name pydantic gives a union's member
            key.append(str(part))
            node = node[part]
    reason = error["msg"]
    if error["type"] == "extra_forbidden":
        reason = f"unknown key (this table takes {', '.join(_known_keys(key[:-1]))})"
    elif reason.startswith("Value error, "):
        reason = reason.removeprefix("Value error, ")
    return tuple(key), reason


def _known_keys(table: Sequence[str]) -> list[str]:
    """The keys the table at ``table`` takes (a table of the file's models)."""
    model: type[BaseModel] = FileSettings
    parts = list(table)
    if parts[:1] == ["profiles"] and len(parts) >= 2:
        model, parts = RunSettings, parts[2:]
    if parts[:1] == ["stages"] and len(parts) >= 2:
        model, parts = StageSettings, parts[2:]
    if parts[:1] == ["output"]:
        model, parts = OutputSettings, parts[1:]
    if parts[:1] == ["freshness"]:
        model = TableFreshness if len(parts) >= 2 else FreshnessSettings
        parts = []
    return list(model.model_fields)


# -- where each key is --------------------------------------------------------------

_PART = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_HEADER = re.compile(rf"\[\[\s*({_DOTTED})\s*\]\]")
_HEADER = re.compile(rf"\[\s*({_DOTTED})\s*\]")
_KEY = re.compile(rf"({_DOTTED})\s*=")
_PARTS = re.compile(rf"{_PART}")


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PARTS.findall(dotted))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line (from 1) where each table and key of TOML ``text`` first appears, by
    its key path: ``[profiles.prod]`` then ``workers = 8`` is ``("profiles", "prod",
    "workers")``; the second ``[[notifiers]]`` is ``("notifiers", "1")``. A scan of
    the lines, not a parser: see the module doc for what it does not see."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if match := _ARRAY_HEADER.match(line):
            path = _split(match.group(1))
            arrays[path] = arrays.get(path, -1) + 1
            table = (*path, str(arrays[path]))
            found.setdefault(path, number)
            found.setdefault(table, number)
        elif match := _HEADER.match(line):
            table = _split(match.group(1))
            found.setdefault(table, number)
        elif match := _KEY.match(line):
            found.setdefault((*table, *_split(match.group(1))), number)
    return found


def line_of(lines: Mapping[tuple[str, ...], int], key: tuple[str, ...]) -> int | None:
    """The line of ``key``, else of the nearest enclosing key or table seen."""
    for end in range(len(key), 0, -1):
        if key[:end] in lines:
            return lines[key[:end]]
    return None
