"""A table's declared columns and types, and the check every record passes on the
way in.

A schema is a pydantic model or a typed mapping; either becomes a
:class:`TableSchema`: the columns in their order, each with one of the published
types (``COLUMN_TYPES``), and a validator built once. A record is validated and
coerced (``"3"`` becomes 3 for an ``int`` column), then stored as the JSON of the
coerced values (dates as ISO text), so every stored row has the declared columns
and types. What breaks the schema (a missing or extra column, a value of the wrong
type, a field constraint such as ``Field(ge=0)``) is an ``error`` violation; the
pipeline's record checks (``@pipe.check``) add ``error`` or ``warn`` ones.

    >>> schema = schema_of("matches", {"match_id": int, "home": str, "home_goals": int | None})
    >>> [(c.name, c.type, c.nullable) for c in schema.columns]
    [('match_id', 'int', False), ('home', 'str', False), ('home_goals', 'int', True)]
    >>> schema.validate({"match_id": "7", "home": "Arsenal"})
    {'match_id': 7, 'home': 'Arsenal', 'home_goals': None}
    >>> try:
    ...     schema.validate({"match_id": "7", "home": None, "away": "Spurs"})
    ... except RecordInvalid as exc:
    ...     print(exc)
    ...     print([(v.rule, v.field) for v in exc.violations])
    matches: home: Input should be a valid string; away: Extra inputs are not permitted
    [('string_type', 'home'), ('extra_forbidden', 'away')]
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import orjson
import pydantic
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticError

from scrapeline.errors import PipelineError, ValidationError

ColumnType: TypeAlias = Literal["int", "float", "str", "bool", "date", "datetime", "json"]
COLUMN_TYPES: tuple[ColumnType, ...] = typing.get_args(ColumnType)
"""The types a column may have; what each becomes in SQL, Parquet and DuckDB is the
publisher's to say. ``json``: anything else (lists, mappings, nested models)."""

Severity: TypeAlias = Literal["error", "warn"]
SEVERITIES: tuple[Severity, ...] = ("error", "warn")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool
    """None is a value it may hold (``int | None``, ``Optional[int]``)."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule a record broke: ``rule`` is pydantic's error type for the schema's own
    rules (``missing``, ``int_parsing``, ``greater_than_equal``, ``extra_forbidden``,
    ...) or the name of a record check."""

    table: str
    rule: str
    reason: str
    severity: Severity = "error"
    field: str | None = None
    """The column at fault, when one is."""

    def describe(self) -> str:
        return f"{self.field}: {self.reason}" if self.field else f"{self.rule}: {self.reason}"


class RecordInvalid(ValidationError):
    """A record broke an ``error`` rule of its table: it is quarantined, not stored,
    and its item fails with category ``validation``."""

    def __init__(self, table: str, violations: Sequence[Violation], record: Any) -> None:
        self.table = table
        self.violations = tuple(violations)
        self.record = record
        """The record as the stage gave it (a mapping or a model instance)."""
        errors = [v for v in self.violations if v.severity == "error"] or list(self.violations)
        super().__init__(f"{table}: " + "; ".join(v.describe() for v in errors))


RecordCheck: TypeAlias = Callable[[dict[str, Any]], "bool | str | None"]
"""A custom record check: given the validated record, True or None when it holds,
False (the check's name, or its docstring's first line, is the reason) or a reason
(text) when it does not."""


@dataclass(frozen=True, slots=True)
class Check:
    """A record check of a table (``@pipe.check("matches", severity="warn")``)."""

    table: str
    name: str
    fn: RecordCheck
    severity: Severity = "error"
    reason: str = ""
    """What a False means, in words (the function's docstring's first line)."""

    def run(self, record: dict[str, Any]) -> Violation | None:
        try:
            verdict = self.fn(record)
        except Exception as exc:  # a check that raises counts as broken, saying why
            return Violation(
                self.table,
                self.name,
                f"the check raised {type(exc).__name__}: {exc}",
                self.severity,
            )
        if verdict is True or verdict is None:
            return None
        reason = verdict if isinstance(verdict, str) else (self.reason or f"{self.name} failed")
        return Violation(self.table, self.name, reason, self.severity)


# Made once per record: not frozen (a frozen dataclass takes twice as long to build).
# Read-only by convention.
@dataclass(slots=True)
class Checked:
    """A record that passed its table's ``error`` rules: its coerced data as JSON, and
    the ``warn`` rules it broke (counted and reported, the record stored)."""

    data: dict[str, Any]
    json: str
    warnings: tuple[Violation, ...] = ()


@dataclass(frozen=True, eq=False)
class TableSchema:
    """The declared columns of a table and its validator."""

    table: str
    columns: tuple[Column, ...]
    model: type[BaseModel]
    checks: list[Check] = field(default_factory=list)
    """The record checks declared for the table, in order (``Pipeline.check`` adds)."""
    declared: type[BaseModel] | None = None
    """The model the user declared (``model`` may be a subclass of it that refuses
    extra columns): a stage may return its instances bare, for this table."""

    def __post_init__(self) -> None:
        # the model's compiled validator and serializer, looked up once: a record
        # costs what pydantic-core does and little more (bench: validation)
        object.__setattr__(self, "_validate", self.model.__pydantic_validator__.validate_python)
        object.__setattr__(self, "_to_json", self.model.__pydantic_serializer__.to_json)
        object.__setattr__(self, "_plain", _plain_json(self.model))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def as_dict(self) -> list[dict[str, Any]]:
        """The columns as stored in a ledger or a manifest (to compare two versions)."""
        return [c.as_dict() for c in self.columns]

    def validate(self, data: Any) -> dict[str, Any]:
        """``data`` (a mapping or an instance of the model) validated and coerced, as a
        dict of Python values in column order. Raises RecordInvalid."""
        return self._instance(data).model_dump()

    def check(self, data: Any) -> Checked:
        """``data`` validated, coerced and run through the table's record checks.
        Raises RecordInvalid when an ``error`` rule fails (the warnings broken with it
        are among its violations)."""
        instance = self._instance(data)
        values = instance.__dict__  # the validated fields, in column order
        broken: tuple[Violation, ...] = ()
        if self.checks:
            record = dict(values)  # one copy for the checks: the stored values stay
            found = [v for c in self.checks if (v := c.run(record)) is not None]
            if found:
                broken = tuple(found)
                if any(v.severity == "error" for v in broken):
                    raise RecordInvalid(self.table, broken, data)
        return Checked(values, self._json(instance, values), broken)

    def _json(self, instance: BaseModel, values: dict[str, Any]) -> str:
        """The stored JSON of a validated record. A model of plain columns only is
        written by orjson, which writes them as pydantic would, in a quarter of the
        time; an int past 64 bits (orjson refuses it) and every other model go
        through pydantic's serializer."""
        if self._plain:  # type: ignore[attr-defined]
            try:
                return orjson.dumps(values).decode()
            except TypeError:
                pass
        return self._to_json(instance).decode()  # type: ignore[attr-defined,no-any-return]

    def _instance(self, data: Any) -> BaseModel:
        if isinstance(data, BaseModel):  # re-validated: an instance may have been changed
            data = data.model_dump()
        try:
            return self._validate(data)  # type: ignore[attr-defined,no-any-return]
        except PydanticError as exc:
            raise RecordInvalid(self.table, _violations(self.table, exc), data) from None


_PLAIN_TYPES = (int, float, str, bool, dt.date)
"""Column annotations orjson writes exactly as pydantic's JSON does (not datetime:
the two spell UTC differently)."""


def _plain_json(model: type[BaseModel]) -> bool:
    """Whether the stored JSON of ``model``'s records may be written by orjson: every
    field a plain int, float, str, bool or date (or one of them or None), and nothing
    that changes pydantic's output (serializers, computed or excluded fields, aliases
    used when writing, a changed float or date format)."""
    decorators = model.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    if model.__pydantic_computed_fields__:
        return False
    config = model.model_config
    if any(config.get(k) not in (None, d) for k, d in _DEFAULT_SERIALIZING.items()):
        return False
    for info in model.model_fields.values():
        if info.exclude or info.serialization_alias or info.alias:
            return False
        annotation = info.annotation
        if _is_union(annotation):
            inner = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(inner) != 1:
                return False
            annotation = inner[0]
        if annotation not in _PLAIN_TYPES:
            return False
    return True


_DEFAULT_SERIALIZING: dict[str, Any] = {
    "ser_json_inf_nan": "null",
    "ser_json_timedelta": "iso8601",
    "ser_json_bytes": "utf8",
    "serialize_by_alias": False,
    "use_enum_values": False,
}
"""The model settings that change pydantic's JSON, with their defaults."""


def _violations(table: str, exc: PydanticError) -> list[Violation]:
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or None
        found.append(Violation(table, error["type"], error["msg"], "error", where))
    return found


# -- declaring a schema ----------------------------------------------------------------

SchemaSpec: TypeAlias = "type[BaseModel] | Mapping[str, Any]"
"""What ``pipe.table(..., schema=)`` takes: a pydantic model, or a mapping of column
names to types (``{"match_id": int, "date": datetime.date, "ht_home": int | None}``)."""


def schema_of(table: str, spec: Any) -> TableSchema:
    """The schema ``spec`` declares for ``table``. Raises PipelineError for anything
    that is neither a pydantic model nor a mapping of names to types, or a column
    type pydantic cannot validate."""
    if isinstance(spec, type) and issubclass(spec, BaseModel):
        model = spec
        if model.model_config.get("extra") is None:  # a column not declared is refused
            config = {**spec.model_config, "extra": "forbid"}
            model = type(
                spec.__name__, (spec,), {"model_config": config, "__module__": spec.__module__}
            )
    elif isinstance(spec, Mapping):
        if not spec:
            raise PipelineError(f"table {table!r}: a schema needs at least one column")
        fields: dict[str, Any] = {}
        for name, annotation in spec.items():
            if not isinstance(name, str) or not name:
                raise PipelineError(f"table {table!r}: column names are text, got {name!r}")
            default = None if _nullable(annotation) else ...
            fields[name] = (annotation, default)
        try:
            model = pydantic.create_model(
                _model_name(table), __config__=ConfigDict(extra="forbid"), **fields
            )
        except (TypeError, pydantic.PydanticSchemaGenerationError, NameError) as exc:
            raise PipelineError(f"table {table!r}: the schema is not valid: {exc}") from None
    else:
        raise PipelineError(
            f"table {table!r}: schema= takes a pydantic model or a mapping of column names "
            f"to types, not {type(spec).__name__}"
        )
    columns = tuple(
        Column(name, column_type(info.annotation), _nullable(info.annotation))
        for name, info in model.model_fields.items()
    )
    declared = spec if isinstance(spec, type) else model
    return TableSchema(table=table, columns=columns, model=model, declared=declared)


def _model_name(table: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in table)
    return f"{cleaned.title().replace('_', '')}Record"


def _nullable(annotation: Any) -> bool:
    if annotation is None or annotation is type(None):
        return True
    if _is_union(annotation):
        return any(arg is type(None) for arg in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Annotated:
        return _nullable(typing.get_args(annotation)[0])
    return False


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def column_type(annotation: Any) -> ColumnType:
    """The published type of a column annotated ``annotation``.

    >>> import datetime
    >>> [column_type(t) for t in (int, float | None, bool, datetime.date, list[int])]
    ['int', 'float', 'bool', 'date', 'json']
    >>> column_type(typing.Literal["H", "D", "A"]), column_type(typing.Optional[str])
    ('str', 'str')
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return column_type(typing.get_args(annotation)[0])
    if _is_union(annotation):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        kinds = {column_type(a) for a in inner}
        return kinds.pop() if len(kinds) == 1 else "json"
    if origin is Literal:
        return _one_scalar(type(v) for v in typing.get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return _one_scalar(type(m.value) for m in annotation)
        return _scalar(annotation) or "json"
    return "json"


def _one_scalar(kinds: Iterable[type]) -> ColumnType:
    """The one scalar type of a set of values' types (a Literal's, an Enum's), else json."""
    found = {_scalar(kind) for kind in kinds}
    one = found.pop() if len(found) == 1 else None
    return one or "json"


def _scalar(kind: type) -> ColumnType | None:
    # bool before int (a bool is an int); datetime before date (a datetime is a date)
    for base, name in _SCALARS:
        if issubclass(kind, base):
            return name
    return None


_SCALARS: tuple[tuple[type, ColumnType], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (Decimal, "float"),
    (str, "str"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
)
