"""The effective settings of a run: each setting's value, and where it came from.

A setting can be given in six places. Each one overrides the ones before it:

1. **default** — built in (``workers`` 4, ``item_timeout`` 300 s, ...);
2. **pipeline** — the pipeline's own declaration, ``Pipeline(workers=8, rate="2/s")``;
3. **file** — the top level of ``scrapeline.toml`` or ``[tool.scrapeline]``
   (:mod:`~scrapeline.ops.config_file`);
4. **profile** — ``[profiles.NAME]`` of that file, chosen by ``--profile NAME`` or
   ``SCRAPELINE_PROFILE``;
5. **env** — an environment variable, ``SCRAPELINE_`` and the setting's name in
   capitals, dots as underscores: ``SCRAPELINE_WORKERS``, ``SCRAPELINE_DATA_DIR``,
   ``SCRAPELINE_OUTPUT_QUIET`` (one per scalar setting, :data:`SCALARS`);
6. **flag** — the command line: ``--workers 2``, ``--set KEY=VALUE``, ``--secret KEY``.

``ctx.config`` values merge key by key, and so do the stages' ``failure_policy``;
``notifiers`` is replaced whole by the layer that sets it. A relative ``data_dir``
in the file is relative to the file's directory; from the environment or a flag, to
the current directory. ``delay``, when set, is used instead of ``rate`` (as in
``Pipeline``).

Secrets come from the environment: a string value of the file that holds ``${NAME}``
has it replaced by the variable's value, and each such value is a secret (kept out
of the console, the log and the ledger, and shown as ``***``). Only the values in
force are replaced: a variable the chosen profile does not use need not be set.

>>> interpolate("Bearer ${TOKEN}", {"TOKEN": "t0k3n-42"})
('Bearer t0k3n-42', ['t0k3n-42'])
>>> env_name(("output", "quiet")), flag_name(("max_duration",))
('SCRAPELINE_OUTPUT_QUIET', '--max-duration')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scrapeline.errors import ConfigError
from scrapeline.fetch.settings import FetchSettings
from scrapeline.model import FailurePolicy
from scrapeline.ops.config_file import (
    RESOLVED,
    ConfigFile,
    RunSettings,
    config_dir,
    find_config,
    first_error,
)
from scrapeline.ops.notify import Notifier
from scrapeline.pipeline import Pipeline
from scrapeline.runner.run import RunOptions
from scrapeline.secrets import MIN_SECRET_LENGTH, REDACTED, redact

Key = tuple[str, ...]
"""A setting's name as a path: ``("workers",)``, ``("config", "token")``."""

LAYERS = ("default", "pipeline", "file", "profile", "env", "flag")
"""Where a setting can come from, lowest precedence first."""

PRECEDENCE = (
    "default < the pipeline's declaration < the file's top level < the profile "
    "< an environment variable (SCRAPELINE_WORKERS, ...) < a flag"
)
"""The precedence in one line, for help texts."""

SCALARS: tuple[Key, ...] = (
    ("data_dir",),
    ("workers",),
    ("rate",),
    ("delay",),
    ("concurrency",),
    ("base_url",),
    ("archive",),
    ("item_timeout",),
    ("grace",),
    ("max_consecutive_failures",),
    ("failure_policy",),
    ("max_duration",),
    ("output", "quiet"),
    ("output", "items"),
)
"""The settings with one value each: each has an environment variable and is always
in the effective settings (at its default when nothing sets it)."""

PROFILE_ENV = "SCRAPELINE_PROFILE"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_name(key: Key) -> str:
    """The environment variable of a scalar setting."""
    return "SCRAPELINE_" + "_".join(key).upper()


def flag_name(key: Key) -> str:
    """The command-line flag of a setting."""
    return "--" + key[-1].replace("_", "-")


def interpolate(value: Any, env: Mapping[str, str]) -> tuple[Any, list[str]]:
    """``value`` with every ``${NAME}`` in its strings (nested ones too) replaced by
    ``env[NAME]``, and the values put in. Raises KeyError naming a missing variable."""
    if isinstance(value, str):
        used: list[str] = []

        def put(match: re.Match[str]) -> str:
            used.append(env[match.group(1)])
            return used[-1]

        return _VAR.sub(put, value), used
    if isinstance(value, list):
        pairs = [interpolate(v, env) for v in value]
        return [v for v, _ in pairs], [s for _, found in pairs for s in found]
    if isinstance(value, dict):
        done = {k: interpolate(v, env) for k, v in value.items()}
        used = [s for _, found in done.values() for s in found]
        return {k: v for k, (v, _) in done.items()}, used
    return value, []


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting in force: its value, the layer it came from (:data:`LAYERS`) and
    where exactly (``default``, ``pipeline``, ``scrapeline.toml:4``, ``profile prod
    (scrapeline.toml:12)``, ``env SCRAPELINE_WORKERS``, ``flag --workers``)."""

    value: Any
    layer: str
    source: str
    secret: bool = False
    """Its value came from ``${...}`` or ``--secret``: shown as ``***``."""
    where: str = ""
    """What an error about it names: ``scrapeline.toml:4``, ``SCRAPELINE_RATE``, ``--rate``."""

    @property
    def overrides_pipeline(self) -> bool:
        """Set above the pipeline's declaration (by the file, the environment or a flag)."""
        return LAYERS.index(self.layer) > LAYERS.index("pipeline")


@dataclass(frozen=True, kw_only=True)
class Flags:
    """What the command line gave: settings by name (``{"workers": 2, "output.quiet":
    True}``, only those typed), ``--set`` and ``--secret`` values (``ctx.config``)."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    sets: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EffectiveRun:
    """The settings a run goes with, typed, as the commands pass them on.

    The fetch settings (``base_url``, ``rate``, ``delay``, ``concurrency``) and
    ``failure_policy`` are None unless set above the pipeline: None keeps what the
    pipeline declares."""

    profile: str | None
    data_dir: Path
    workers: int
    item_timeout: float | None
    """Seconds; None for no limit."""
    grace: float
    max_consecutive_failures: int
    failure_policy: str | None
    stage_policies: Mapping[str, str]
    max_duration: float | None
    """Seconds."""
    quiet: bool
    items: bool | None
    base_url: str | None
    rate: str | float | None
    delay: tuple[float, float] | float | None
    concurrency: int | None
    archive: bool
    config: Mapping[str, Any]
    notifiers: tuple[Notifier, ...]
    secrets: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Effective:
    """The effective settings: every setting in force with its source."""

    file: ConfigFile | None
    profile: str | None
    profile_source: str | None
    settings: Mapping[Key, Setting]
    resolved: RunSettings
    """The values in force, checked (a rate, a duration) and typed."""
    secrets: tuple[str, ...]
    """Every value from ``${...}`` and ``--secret``: to hide from every output."""

    def __getitem__(self, key: str) -> Setting:
        """The setting named ``key`` (dotted: ``"output.quiet"``, ``"config.token"``)."""
        return self.settings[tuple(key.split("."))]

    def notifiers(self) -> tuple[Notifier, ...]:
        """The notifiers in force, checked now that their ``${...}`` are filled in (an
        Apprise URL is often one whole secret). Raises ConfigError naming where they
        were set, the notifier and the reason, never the URL."""
        found: list[Notifier] = []
        tables = self.resolved.notifiers or []
        source = self.settings[("notifiers",)].source if tables else ""
        for index, table in enumerate(tables):
            try:
                found.append(Notifier.model_validate(table))
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                field = f".{where}" if where else ""
                raise ConfigError(f"{source}: notifiers[{index}]{field}: {error['msg']}") from None
        return tuple(found)

    def run(self) -> EffectiveRun:
        """The settings as a run takes them."""
        r = self.resolved
        out = r.output
        stages = r.stages or {}

        def above(name: str) -> Any:
            setting = self.settings[(name,)]
            return setting.value if setting.overrides_pipeline else None

        policy = self.settings[("failure_policy",)]
        return EffectiveRun(
            profile=self.profile,
            data_dir=Path(r.data_dir or "."),
            workers=r.workers or RunOptions().workers,
            item_timeout=r.item_timeout or None,
            grace=r.grace if r.grace is not None else RunOptions().grace,
            max_consecutive_failures=r.max_consecutive_failures or 0,
            failure_policy=r.failure_policy if policy.overrides_pipeline else None,
            stage_policies={s: v.failure_policy for s, v in stages.items() if v.failure_policy},
            max_duration=float(r.max_duration) if r.max_duration is not None else None,
            quiet=bool(out and out.quiet),
            items=out.items if out else None,
            base_url=above("base_url"),
            rate=above("rate"),
            delay=above("delay"),
            concurrency=above("concurrency"),
            archive=r.archive is not False,
            config=dict(r.config or {}),
            notifiers=self.notifiers(),
            secrets=self.secrets,
        )

    def report(self) -> dict[str, Any]:
        """The effective settings as JSON-ready values, secrets masked: the file (and
        the pyproject.toml it wins over, ``ignored``), the profile, the precedence, and
        each setting's ``value`` and ``source``."""
        shown: dict[str, Any] = {}
        for key, setting in self.settings.items():
            entry: dict[str, Any] = {
                "value": _masked(setting, self.secrets),
                "source": setting.source,
            }
            if setting.secret:
                entry["secret"] = True
            shown[".".join(key)] = entry
        profiles = self.file.settings.profiles if self.file else None
        return {
            "file": str(self.file.path) if self.file else None,
            "ignored": str(self.file.shadowed) if self.file and self.file.shadowed else None,
            "profile": self.profile,
            "profile_source": self.profile_source,
            "profiles": sorted(profiles or {}),
            "precedence": list(LAYERS),
            "settings": shown,
        }


def _masked(setting: Setting, secrets: Sequence[str]) -> Any:
    value = setting.value
    if not setting.secret:
        return value
    if isinstance(value, str):
        return REDACTED
    return _redacted(value, secrets)


def _redacted(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    return value


# -- the layers ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    value: Any
    layer: str
    source: str
    where: str
    file_dir: Path | None = None
    """For a value from the file: ``${...}`` is replaced, a relative data_dir is
    taken from here."""


def load_settings(
    target: str | None,
    pipeline: Pipeline,
    *,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    cli: Flags | None = None,
    data_dir: Path | None = None,
) -> Effective:
    """The effective settings of a run of ``pipeline`` (named ``target`` on the command
    line, where its configuration file is looked for; None for none): see the module
    doc for the precedence. ``profile`` is ``--profile`` (else ``env``'s
    ``SCRAPELINE_PROFILE``); ``data_dir`` replaces the built-in ``data/NAME``.

    Raises ConfigError in one line for an invalid file, an unknown profile, a bad
    environment variable, a ``${NAME}`` that is not set, a stage the pipeline does
    not have or a value that cannot work (``rate = "fast"``)."""
    env = {} if env is None else env
    cli = cli or Flags()
    found = find_config(config_dir(target)) if target is not None else None
    profile_source = "flag --profile" if profile else None
    if not profile and env.get(PROFILE_ENV):
        profile, profile_source = env[PROFILE_ENV], f"env {PROFILE_ENV}"
    layers = [
        _defaults(pipeline, data_dir),
        _declared(pipeline),
        *_file_layers(found, profile, profile_source),
        _env_layer(env),
        _flag_layer(cli),
    ]
    merged: dict[Key, _Entry] = {}
    for layer in layers:
        merged.update(layer)
    _check_stages(merged, pipeline)
    settings, secrets = _finish(merged, env, cli)
    resolved = _resolve(settings)
    return Effective(
        file=found,
        profile=profile or None,
        profile_source=profile_source,
        settings=settings,
        resolved=resolved,
        secrets=tuple(dict.fromkeys(secrets)),
    )


def _defaults(pipeline: Pipeline, data_dir: Path | None) -> dict[Key, _Entry]:
    run = RunOptions()
    values: dict[Key, Any] = {
        ("data_dir",): str(data_dir or Path("data") / pipeline.name),
        ("workers",): run.workers,
        ("rate",): None,
        ("delay",): None,
        ("concurrency",): FetchSettings().concurrency,
        ("base_url",): None,
        ("archive",): True,
        ("item_timeout",): run.item_timeout or 0.0,
        ("grace",): run.grace,
        ("max_consecutive_failures",): run.max_consecutive_failures,
        ("failure_policy",): "continue",
        ("max_duration",): None,
        ("output", "quiet"): False,
        ("output", "items"): None,
    }
    return {k: _Entry(v, "default", "default", "default") for k, v in values.items()}


def _declared(pipeline: Pipeline) -> dict[Key, _Entry]:
    """What the pipeline declares itself (a concurrency or a failure policy at the
    built-in default is taken as not declared)."""
    fetch = pipeline.fetch
    values: dict[Key, Any] = {
        ("workers",): pipeline.workers,
        ("rate",): fetch.rate,
        ("delay",): fetch.delay,
        ("base_url",): fetch.base_url,
    }
    if fetch.concurrency != FetchSettings().concurrency:
        values[("concurrency",)] = fetch.concurrency
    if pipeline.failure_policy is not FailurePolicy.CONTINUE:
        values[("failure_policy",)] = pipeline.failure_policy.value
    where = f"pipeline {pipeline.name!r}"
    return {k: _Entry(v, "pipeline", "pipeline", where) for k, v in values.items() if v is not None}


def _file_layers(
    found: ConfigFile | None, profile: str | None, profile_source: str | None
) -> list[dict[Key, _Entry]]:
    if found is None:
        if profile:
            raise ConfigError(
                f"profile {profile!r} ({profile_source}): there is no scrapeline.toml "
                "and no [tool.scrapeline] in pyproject.toml beside the pipeline"
            )
        return []
    file_dir = found.path.parent
    top = {
        key: _Entry(value, "file", found.where(key), found.where(key), file_dir)
        for key, value in _flatten(found.settings).items()
    }
    if not profile:
        return [top]
    profiles = found.settings.profiles or {}
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"unknown profile {profile!r} ({profile_source}): {found.path} has {known}"
        )
    chosen: dict[Key, _Entry] = {}
    for key, value in _flatten(profiles[profile]).items():
        where = found.where(("profiles", profile, *key))
        chosen[key] = _Entry(value, "profile", f"profile {profile} ({where})", where, file_dir)
    return [top, chosen]


def _flatten(settings: RunSettings) -> dict[Key, Any]:
    """The settings a table sets, by key: tables of settings (``output``, ``stages``,
    ``config``) one key each; ``notifiers`` whole."""
    flat: dict[Key, Any] = {}
    for name in RunSettings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if name == "output":
            flat |= {("output", k): getattr(value, k) for k in sorted(value.model_fields_set)}
        elif name == "stages":
            for stage, table in value.items():
                flat |= {("stages", stage, k): getattr(table, k) for k in table.model_fields_set}
        elif name == "config":
            flat |= {("config", k): v for k, v in value.items()}
        elif name == "freshness":  # key by key: a profile changes one table's rule
            if value.max_age is not None:
                flat[("freshness", "max_age")] = value.max_age
            flat |= {("freshness", t): rule.model_dump() for t, rule in value.tables().items()}
        elif name == "notifiers":
            flat[(name,)] = [dict(n) for n in value]
        else:
            flat[(name,)] = value
    return flat


def _env_layer(env: Mapping[str, str]) -> dict[Key, _Entry]:
    """The ``SCRAPELINE_*`` variables that are set (an empty one is not), read as the
    file's values would be, but from text: ``SCRAPELINE_ARCHIVE=false``,
    ``SCRAPELINE_DELAY=1,3`` (a range)."""
    given: dict[Key, str] = {k: env[env_name(k)] for k in SCALARS if env.get(env_name(k))}
    raw: dict[str, Any] = {}
    for key, text in given.items():
        value: Any = text.split(",") if key == ("delay",) and "," in text else text
        _put(raw, key, value)
    try:
        parsed = RunSettings.model_validate(raw, strict=False)
    except ValidationError as exc:
        key, reason = first_error(exc, raw)
        raise ConfigError(f"{env_name(key)}: {reason}") from None
    return {
        key: _Entry(value, "env", f"env {env_name(key)}", env_name(key))
        for key, value in _flatten(parsed).items()
    }


def _flag_layer(cli: Flags) -> dict[Key, _Entry]:
    flags: dict[Key, _Entry] = {}
    for name, value in cli.settings.items():
        key = tuple(name.split("."))
        flag = "--no-archive" if key == ("archive",) and value is False else flag_name(key)
        flags[key] = _Entry(value, "flag", f"flag {flag}", flag)
    for name, value in cli.sets.items():
        flags[("config", name)] = _Entry(value, "flag", "flag --set", f"--set {name}")
    for name, value in cli.secrets.items():
        flags[("config", name)] = _Entry(value, "flag", "flag --secret", f"--secret {name}")
    return flags


def _check_stages(merged: Mapping[Key, _Entry], pipeline: Pipeline) -> None:
    for key, entry in merged.items():
        if key[0] == "stages" and key[1] not in pipeline.stages:
            known = ", ".join(pipeline.stages) or "none"
            raise ConfigError(
                f"{entry.where}: stages.{key[1]}: the pipeline has no stage {key[1]!r} "
                f"(it has {known})"
            )


def _finish(
    merged: Mapping[Key, _Entry], env: Mapping[str, str], cli: Flags
) -> tuple[dict[Key, Setting], list[str]]:
    """The settings in force: ``${...}`` replaced in the file's values, a relative
    data_dir of the file taken from the file's directory."""
    settings: dict[Key, Setting] = {}
    secrets: list[str] = list(cli.secrets.values())
    for key, entry in merged.items():
        value, secret = entry.value, False
        if entry.file_dir is not None:
            try:
                value, used = interpolate(value, env)
            except KeyError as exc:
                raise ConfigError(
                    f"{entry.where}: {'.'.join(key)}: the environment variable "
                    f"{exc.args[0]} is not set"
                ) from None
            for found in used:
                if len(found) < MIN_SECRET_LENGTH:
                    raise ConfigError(
                        f"{entry.where}: {'.'.join(key)}: a ${{...}} value is a secret, and "
                        f"this one is shorter than {MIN_SECRET_LENGTH} characters: too short "
                        "to hide from output without hiding ordinary text"
                    )
            secrets += used
            secret = bool(used)
            if key == ("data_dir",) and not Path(value).is_absolute():
                value = str(entry.file_dir / value)
        secret = secret or entry.source == "flag --secret"
        settings[key] = Setting(
            value=value, layer=entry.layer, source=entry.source, secret=secret, where=entry.where
        )
    return settings, secrets


def _resolve(settings: Mapping[Key, Setting]) -> RunSettings:
    """The values in force as one checked RunSettings; a value that cannot work is a
    ConfigError naming where it was set."""
    nested: dict[str, Any] = {}
    for key, setting in settings.items():
        _put(nested, key, setting.value)
    try:
        return RunSettings.model_validate(nested, strict=False, context={RESOLVED: True})
    except ValidationError as exc:
        path, reason = first_error(exc, nested)
        found = settings.get(path) or next(
            (s for k, s in settings.items() if k[: len(path)] == path), None
        )
        if found is not None and found.layer in ("env", "flag"):
            # the variable or the flag names the setting already
            raise ConfigError(f"{found.where}: {reason}") from None
        where = found.where if found else "settings"
        raise ConfigError(f"{where}: {'.'.join(path)}: {reason}") from None


def _put(tree: dict[str, Any], key: Key, value: Any) -> None:
    for part in key[:-1]:
        tree = tree.setdefault(part, {})
    tree[key[-1]] = value
