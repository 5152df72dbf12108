"""Table rules: what must hold over a whole table (its rows together), checked in DuckDB
over a consistent copy of the tables before it is published.

Declared on a pipeline, evaluated over a DuckDB connection that has one relation (a
view or a table) per table, named after it::

    pipe.rule("matches", unique("match_id"), not_null("home", "away"),
              between("home_goals", min=0), accepted("result", ["H", "D", "A"]))
    pipe.rule("matches", references("home", "teams", "name"), row_count(min=300))
    pipe.rule("matches", fresh("date", "3d", severity="warn"))
    pipe.rule("matches", sql("SELECT * FROM matches WHERE home = away", name="no_self_match"))

    for result in evaluate(con, pipe):
        print(result.table, result.rule, result.passed, result.message)

Each rule becomes one SQL query returning the table's failing rows (or one aggregate,
for ``row_count`` and ``fresh``); DuckDB counts them and keeps a sample of five. Table
and column names are quoted (a table named ``order`` or a column ``home team`` work),
values are bound as parameters. ``severity="error"`` (the default) blocks publishing
when the rule fails; ``"warn"`` is reported and lets it through.

NULLs: a NULL is not a duplicate (``unique``), not outside a range (``between``), not
an unaccepted value (``accepted``) and not a dangling reference (``references``);
``not_null`` is the rule that refuses them.

    >>> import duckdb
    >>> from scrapeline.pipeline import Pipeline
    >>> pipe = Pipeline("football")
    >>> _ = pipe.table("matches", key="match_id")
    >>> pipe.rule("matches", unique("match_id"), between("home_goals", min=0, severity="warn"))
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE matches AS SELECT * FROM (VALUES (1, 2), (1, -1), (2, 0))"
    ...                 " AS t(match_id, home_goals)")
    >>> for result in evaluate(con, pipe):
    ...     print(result.rule, result.severity, result.passed, result.message)
    unique(match_id) error False 2 rows with a duplicate match_id
    between(home_goals, min=0) warn False 1 row with home_goals below 0
"""

from __future__ import annotations

import abc
import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from scrapeline.durations import parse_duration
from scrapeline.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    import duckdb

    from scrapeline.pipeline import Pipeline

Severity: TypeAlias = Literal["error", "warn"]
SEVERITIES: tuple[Severity, ...] = ("error", "warn")
"""The severities of record checks (``quality.schema``) and of table rules alike."""

SAMPLE_SIZE = 5
"""How many failing rows a result keeps, to show what is wrong."""

_COUNT = "__scrapeline_failing"
"""The column a failing-rows query gets for the count of all its rows."""


# -- results -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleResult:
    """What one rule found in one table."""

    table: str
    rule: str
    """The rule's name: the one declared, else what it says (``unique(match_id)``)."""
    severity: Severity
    passed: bool
    failing: int
    """Failing rows; for ``row_count`` and ``fresh``, 1 when the rule fails."""
    message: str
    """One line, e.g. ``3 rows with a duplicate match_id``."""
    sample: list[dict[str, Any]] = field(default_factory=list)
    """Up to :data:`SAMPLE_SIZE` failing rows, column by column."""

    @property
    def blocking(self) -> bool:
        """Failed with severity ``error``: the tables must not be published."""
        return not self.passed and self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON values (dates and datetimes as ISO text)."""
        return {
            "table": self.table,
            "rule": self.rule,
            "severity": self.severity,
            "passed": self.passed,
            "failing": self.failing,
            "message": self.message,
            "sample": [{k: _plain(v) for k, v in row.items()} for row in self.sample],
        }


def _plain(value: Any) -> Any:
    """A value DuckDB returned, as a JSON value."""
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # UUIDs and the like


# -- SQL text --------------------------------------------------------------------------


def quote(name: str) -> str:
    """``name`` as a SQL identifier: always quoted, inner quotes doubled.

    >>> print(quote("order"), quote('a "b" c'))
    "order" "a ""b"" c"
    """
    return '"' + name.replace('"', '""') + '"'


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (DuckDB's add the query and a caret)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _columns_text(columns: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``: columns as a message names them."""
    if len(columns) == 1:
        return columns[0]
    return ", ".join(columns[:-1]) + " or " + columns[-1]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a rule is evaluated against: the connection, its table, the clock."""

    con: duckdb.DuckDBPyConnection
    table: str
    now: float
    keys: Mapping[str, tuple[str, ...]]
    """The key columns of every table and keyed derived table."""

    def failing(self, query: str, params: Sequence[Any] = ()) -> tuple[int, list[dict[str, Any]]]:
        """How many rows ``query`` returns, and a sample of them: one pass in DuckDB."""
        counted = f"SELECT *, count(*) OVER () AS {_COUNT} FROM ({query}) LIMIT {SAMPLE_SIZE}"
        cursor = self.con.execute(counted, list(params))
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
        if not rows:
            return 0, []
        return int(rows[0][-1]), [dict(zip(names[:-1], row[:-1], strict=True)) for row in rows]

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        # fetchall, not fetchone: a result left unfinished blocks the connection's
        # next query (the publisher then streams the derived tables from it)
        (row,) = self.con.execute(query, list(params)).fetchall()  # an aggregate: one row
        return tuple(row)


# -- the rules -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TableRule(abc.ABC):
    """A rule over a whole table. Make one with :func:`unique`, :func:`not_null`,
    :func:`accepted`, :func:`between`, :func:`references`, :func:`row_count`,
    :func:`fresh` or :func:`sql`."""

    severity: Severity = "error"
    name: str | None = None
    """What results call the rule; by default what it says (:meth:`describe`)."""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise PipelineError(
                f"{self.describe()}: severity must be 'error' or 'warn', not {self.severity!r}"
            )
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise PipelineError(f"{self.describe()}: name= must be non-empty text")

    @property
    def label(self) -> str:
        return self.name or self.describe()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of its own table the rule reads (checked against the table)."""
        return ()

    @abc.abstractmethod
    def describe(self) -> str:
        """What the rule says, as code would: ``between(home_goals, min=0)``."""

    @abc.abstractmethod
    def run(self, scope: Scope) -> RuleResult:
        """Evaluate the rule in ``scope``; DuckDB errors propagate (see :func:`evaluate`)."""

    def _result(
        self,
        scope: Scope,
        failing: int,
        message: str,
        sample: list[dict[str, Any]] | None = None,
        *,
        passed: bool | None = None,
    ) -> RuleResult:
        return RuleResult(
            table=scope.table,
            rule=self.label,
            severity=self.severity,
            passed=failing == 0 if passed is None else passed,
            failing=failing,
            message=message,
            sample=sample or [],
        )


def _names(what: str, columns: Iterable[Any]) -> tuple[str, ...]:
    found = tuple(columns)
    if not found:
        raise PipelineError(f"{what}() needs at least one column")
    for column in found:
        if not isinstance(column, str) or not column:
            raise PipelineError(f"{what}(): column names are non-empty text, got {column!r}")
    return found


@dataclass(frozen=True, kw_only=True)
class Unique(TableRule):
    of: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.of

    def describe(self) -> str:
        return f"unique({', '.join(self.of)})"

    def run(self, scope: Scope) -> RuleResult:
        cols = ", ".join(quote(c) for c in self.of)
        present = " AND ".join(f"{quote(c)} IS NOT NULL" for c in self.of)
        on = " AND ".join(f"t.{quote(c)} = d.{quote(c)}" for c in self.of)
        table = quote(scope.table)
        query = (
            f"SELECT t.* FROM {table} AS t SEMI JOIN ("
            f"SELECT {cols} FROM {table} WHERE {present} GROUP BY {cols} HAVING count(*) > 1"
            f") AS d ON {on}"
        )
        failing, sample = scope.failing(query)
        what = self.of[0] if len(self.of) == 1 else f"({', '.join(self.of)})"
        return self._result(scope, failing, f"{_rows(failing)} with a duplicate {what}", sample)


@dataclass(frozen=True, kw_only=True)
class NotNull(TableRule):
    of: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.of

    def describe(self) -> str:
        return f"not_null({', '.join(self.of)})"

    def run(self, scope: Scope) -> RuleResult:
        empty = " OR ".join(f"{quote(c)} IS NULL" for c in self.of)
        failing, sample = scope.failing(f"SELECT * FROM {quote(scope.table)} WHERE {empty}")
        message = f"{_rows(failing)} with a null {_columns_text(self.of)}"
        return self._result(scope, failing, message, sample)


@dataclass(frozen=True, kw_only=True)
class Accepted(TableRule):
    column: str
    values: tuple[Any, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def describe(self) -> str:
        return f"accepted({self.column}, {list(self.values)!r})"

    def run(self, scope: Scope) -> RuleResult:
        marks = ", ".join("?" for _ in self.values)
        column = quote(self.column)
        query = (
            f"SELECT * FROM {quote(scope.table)} "
            f"WHERE {column} IS NOT NULL AND {column} NOT IN ({marks})"
        )
        failing, sample = scope.failing(query, self.values)
        shown = ", ".join(repr(v) for v in self.values[:10])
        if len(self.values) > 10:
            shown += f", ... ({len(self.values)} values)"
        message = f"{_rows(failing)} with a {self.column} not in ({shown})"
        return self._result(scope, failing, message, sample)


@dataclass(frozen=True, kw_only=True)
class Between(TableRule):
    column: str
    min: Any = None
    max: Any = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def describe(self) -> str:
        bounds = [f"{k}={v!r}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"between({self.column}, {', '.join(bounds)})"

    def run(self, scope: Scope) -> RuleResult:
        column = quote(self.column)
        outside, params = [], []
        if self.min is not None:
            outside.append(f"{column} < ?")
            params.append(self.min)
        if self.max is not None:
            outside.append(f"{column} > ?")
            params.append(self.max)
        query = f"SELECT * FROM {quote(scope.table)} WHERE {' OR '.join(outside)}"
        failing, sample = scope.failing(query, params)
        if self.max is None:
            where = f"below {self.min!r}"
        elif self.min is None:
            where = f"above {self.max!r}"
        else:
            where = f"outside [{self.min!r}, {self.max!r}]"
        message = f"{_rows(failing)} with {self.column} {where}"
        return self._result(scope, failing, message, sample)


@dataclass(frozen=True, kw_only=True)
class References(TableRule):
    column: str
    table: str
    to: str | None = None
    """The other table's column; None: its key (which must be one column)."""

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def describe(self) -> str:
        return f"references({self.column}, {self.table}" + (f".{self.to})" if self.to else ")")

    def target(self, keys: Mapping[str, tuple[str, ...]]) -> str:
        """The other table's column: ``to``, else its key. Raises PipelineError for a
        table without a key, or with a key of several columns."""
        if self.to is not None:
            return self.to
        key = keys.get(self.table)
        if not key:
            raise PipelineError(
                f"{self.describe()}: table {self.table!r} has no key; name the column: "
                f"references({self.column!r}, {self.table!r}, 'column')"
            )
        if len(key) != 1:
            raise PipelineError(
                f"{self.describe()}: the key of {self.table!r} is {len(key)} columns "
                f"({', '.join(key)}); name the one it refers to"
            )
        return key[0]

    def run(self, scope: Scope) -> RuleResult:
        column, other = quote(self.column), quote(self.target(scope.keys))
        query = (
            f"SELECT t.* FROM {quote(scope.table)} AS t WHERE t.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {quote(self.table)} AS o WHERE o.{other} = t.{column})"
        )
        failing, sample = scope.failing(query)
        to = f"{self.table}.{self.target(scope.keys)}"
        message = f"{_rows(failing)} with a {self.column} not in {to}"
        return self._result(scope, failing, message, sample)


@dataclass(frozen=True, kw_only=True)
class RowCount(TableRule):
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        bounds = [f"{k}={v!r}" for k, v in (("min", self.min), ("max", self.max)) if v is not None]
        return f"row_count({', '.join(bounds)})"

    def run(self, scope: Scope) -> RuleResult:
        (count,) = scope.one(f"SELECT count(*) FROM {quote(scope.table)}")
        if self.min is not None and count < self.min:
            return self._result(scope, 1, f"{_rows(count)}, fewer than {self.min:,}")
        if self.max is not None and count > self.max:
            return self._result(scope, 1, f"{_rows(count)}, more than {self.max:,}")
        return self._result(scope, 0, _rows(count))


@dataclass(frozen=True, kw_only=True)
class Fresh(TableRule):
    column: str
    max_age: str | float
    seconds: float

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def describe(self) -> str:
        return f"fresh({self.column}, {self.max_age})"

    def run(self, scope: Scope) -> RuleResult:
        (newest,) = scope.one(f"SELECT max({quote(self.column)}) FROM {quote(scope.table)}")
        if newest is None:
            return self._result(scope, 1, f"no {self.column} at all: nothing to be fresh")
        newest = _moment(newest, self.describe())
        if isinstance(newest, dt.datetime):
            age = scope.now - newest.timestamp()
            passed = age <= self.seconds
        else:  # a date counts as its whole day: fresh if any moment of it is recent enough
            cutoff = dt.datetime.fromtimestamp(scope.now - self.seconds, dt.UTC).date()
            today = dt.datetime.fromtimestamp(scope.now, dt.UTC).date()
            age = (today - newest).days * 86400.0
            passed = newest >= cutoff
        told = f"newest {self.column} is {newest.isoformat()}, {_age(age)} old"
        if passed:
            return self._result(scope, 0, f"{told} (within {self.max_age})")
        return self._result(scope, 1, f"{told} (more than {self.max_age})")


def _moment(value: Any, rule: str) -> dt.date | dt.datetime:
    """The newest value of a date or datetime column (or of ISO text) as a date, or an
    aware datetime (naive ones are UTC)."""
    if isinstance(value, str):
        try:
            parse = dt.date.fromisoformat if len(value) == 10 else dt.datetime.fromisoformat
            value = parse(value)
        except ValueError:
            raise PipelineError(f"{rule}: {value!r} is not a date or a datetime") from None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return value
    raise PipelineError(f"{rule}: the column holds {type(value).__name__}, not dates")


def _age(seconds: float) -> str:
    if seconds >= 86400:
        days = seconds / 86400
        return f"{days:,.0f} days" if days >= 10 else f"{days:.1f} days".replace(".0 ", " ")
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


@dataclass(frozen=True, kw_only=True)
class CustomSql(TableRule):
    query: str

    def describe(self) -> str:
        return self.name or "sql"

    def run(self, scope: Scope) -> RuleResult:
        failing, sample = scope.failing(self.query)
        return self._result(scope, failing, f"{_rows(failing)} returned by {self.label}", sample)


# -- the declarations users write ------------------------------------------------------


def unique(*columns: str, severity: Severity = "error", name: str | None = None) -> Unique:
    """No two rows have the same values in ``columns`` (rows with a NULL in them are
    not compared). Failing rows: every row of a duplicated value."""
    return Unique(of=_names("unique", columns), severity=severity, name=name)


def not_null(*columns: str, severity: Severity = "error", name: str | None = None) -> NotNull:
    """None of ``columns`` is NULL. Failing rows: those with a NULL in any of them."""
    return NotNull(of=_names("not_null", columns), severity=severity, name=name)


def accepted(
    column: str, values: Iterable[Any], *, severity: Severity = "error", name: str | None = None
) -> Accepted:
    """Every non-null value of ``column`` is one of ``values``."""
    (column,) = _names("accepted", (column,))
    if isinstance(values, str | bytes):
        raise PipelineError(f"accepted({column!r}, ...): values is a list of values, not text")
    found = tuple(values)
    if not found:
        raise PipelineError(f"accepted({column!r}, ...) needs at least one value")
    if any(v is None for v in found):
        # in SQL, NOT IN a list holding NULL is never true: the rule would never fail
        raise PipelineError(
            f"accepted({column!r}, ...): None is not a value to accept; NULLs always pass "
            f"accepted(), refuse them with not_null({column!r})"
        )
    return Accepted(column=column, values=found, severity=severity, name=name)


def between(
    column: str,
    min: Any = None,
    max: Any = None,
    *,
    severity: Severity = "error",
    name: str | None = None,
) -> Between:
    """Every non-null value of ``column`` is at least ``min`` and at most ``max``
    (either may be left out: not both). Numbers, dates, text: whatever compares."""
    (column,) = _names("between", (column,))
    if min is None and max is None:
        raise PipelineError(f"between({column!r}) needs min=, max= or both")
    if min is not None and max is not None:
        try:
            above = min > max
        except TypeError:
            raise PipelineError(
                f"between({column!r}, min={min!r}, max={max!r}): min and max do not compare"
            ) from None
        if above:
            raise PipelineError(f"between({column!r}, min={min!r}, max={max!r}): min is above max")
    return Between(column=column, min=min, max=max, severity=severity, name=name)


def references(
    column: str,
    table: str,
    to: str | None = None,
    *,
    severity: Severity = "error",
    name: str | None = None,
) -> References:
    """Every non-null value of ``column`` is in ``table``'s column ``to`` (default:
    ``table``'s key, which must then be one column): ``references("home", "teams")``,
    ``references("home", "teams", "name")``. ``table`` may be a derived table."""
    (column,) = _names("references", (column,))
    if not isinstance(table, str) or not table:
        raise PipelineError(f"references({column!r}, ...): the table is a name, got {table!r}")
    if to is not None:
        _names("references", (to,))
    return References(column=column, table=table, to=to, severity=severity, name=name)


def row_count(
    min: int | None = None,
    max: int | None = None,
    *,
    severity: Severity = "error",
    name: str | None = None,
) -> RowCount:
    """The table has at least ``min`` and at most ``max`` rows."""
    for bound in (min, max):
        if bound is not None and (not isinstance(bound, int) or bound < 0):
            raise PipelineError(f"row_count(): bounds are whole numbers >= 0, got {bound!r}")
    if min is None and max is None:
        raise PipelineError("row_count() needs min=, max= or both")
    if min is not None and max is not None and min > max:
        raise PipelineError(f"row_count(min={min}, max={max}): min is above max")
    return RowCount(min=min, max=max, severity=severity, name=name)


def fresh(
    column: str, max_age: str | float, *, severity: Severity = "error", name: str | None = None
) -> Fresh:
    """The newest value of the date or datetime ``column`` is at most ``max_age``
    old ("3d", "12h", or seconds) at evaluation (``evaluate(now=)``). A date counts
    as its whole day (UTC): yesterday's date is 1 day old. Naive datetimes are UTC.
    An empty column fails."""
    (column,) = _names("fresh", (column,))
    try:
        seconds = parse_duration(max_age) if isinstance(max_age, str) else float(max_age)
    except (ConfigError, TypeError, ValueError) as exc:
        raise PipelineError(f"fresh({column!r}, {max_age!r}): {first_line(exc)}") from None
    if seconds <= 0:
        raise PipelineError(f"fresh({column!r}, {max_age!r}): the age must be above zero")
    return Fresh(column=column, max_age=max_age, seconds=seconds, severity=severity, name=name)


def sql(query: str, *, name: str | None = None, severity: Severity = "error") -> CustomSql:
    """A rule of your own: ``query`` (a SELECT; the tables by their names) returns the
    failing rows, none when the rule holds.

        sql("SELECT * FROM matches WHERE home = away", name="no_self_match")
    """
    if not isinstance(query, str) or not query.strip().rstrip(";").strip():
        raise PipelineError(f"sql(name={name!r}): the query is empty")
    if not isinstance(name, str) or not name.strip():
        raise PipelineError("sql(...): name= is required: what the rule checks, in a word")
    return CustomSql(query=query.strip().rstrip(";").strip(), name=name, severity=severity)


# -- declaring and evaluating ----------------------------------------------------------


def declare(pipe: Pipeline, table: str, rules: Sequence[TableRule]) -> None:
    """Add ``rules`` to ``pipe.rules[table]``, after what can be checked now: each is a
    rule; the columns of a table with a schema exist (and ``fresh`` is on a date or
    datetime one); a reference's other table, when declared with a schema, has the
    column. A name that is neither a table nor a derived table yet may be a derived
    table declared later: :func:`check_declarations` refuses it if it never is."""
    where = f"pipe.rule({table!r})"
    if not isinstance(table, str) or not table:
        raise PipelineError(f"pipe.rule(): the table is a name, got {table!r}")
    if not rules:
        raise PipelineError(f"{where}: give at least one rule, e.g. unique('id')")
    for rule in rules:
        if not isinstance(rule, TableRule):
            raise PipelineError(
                f"{where}: {rule!r} is not a table rule (unique, not_null, accepted, between, "
                "references, row_count, fresh or sql)"
            )
    schema = pipe.schemas.get(table)
    for rule in rules:
        if schema is not None:
            for column in rule.columns:
                if schema.column(column) is None:
                    raise PipelineError(
                        f"{where}: {rule.describe()}: table {table!r} has no column {column!r} "
                        f"(it has {', '.join(schema.names)})"
                    )
            if isinstance(rule, Fresh):
                found = schema.column(rule.column)
                if found is not None and found.type not in ("date", "datetime"):
                    raise PipelineError(
                        f"{where}: {rule.describe()}: {rule.column!r} is {found.type}, "
                        "not a date or datetime"
                    )
        if isinstance(rule, References):
            _check_reference(pipe, rule, where, final=False)
    pipe.rules.setdefault(table, []).extend(rules)


def _check_reference(pipe: Pipeline, rule: References, where: str, *, final: bool) -> None:
    known = (
        rule.table in pipe.tables
        or rule.table in pipe.derived
        or rule.table in reconciled_tables(pipe)
    )
    if not known:
        if final:
            raise PipelineError(
                f"{where}: {rule.describe()}: no table or derived table {rule.table!r}"
            )
        return
    target = rule.target(keys_of(pipe))
    other = pipe.schemas.get(rule.table)
    if other is not None and other.column(target) is None:
        raise PipelineError(
            f"{where}: {rule.describe()}: table {rule.table!r} has no column {target!r}"
        )


def keys_of(pipe: Pipeline) -> dict[str, tuple[str, ...]]:
    """The key columns of each table, of each derived table that has one, and of each
    reconciled entities table (its id column)."""
    keys = {name: table.key for name, table in pipe.tables.items()}
    keys.update({name: d.key for name, d in pipe.derived.items() if d.key})
    keys.update({name: (decl.key,) for name, decl in pipe.reconciliations.items()})
    return keys


def reconciled_tables(pipe: Pipeline) -> dict[str, str]:
    """The tables the reconciliations publish (``prospects``,
    ``prospects_conflicts``, ``prospects_unresolved``), each → its reconciliation."""
    return {
        table: name
        for name in pipe.reconciliations
        for table in (name, f"{name}_conflicts", f"{name}_unresolved")
    }


def check_declarations(pipe: Pipeline) -> None:
    """Raise PipelineError for what :func:`declare` had to leave for later: rules on a
    name that is neither a table nor a derived table, references to one, or to a
    table whose key cannot be the other column; a derived table named like a table."""
    for name in pipe.derived:
        if name in pipe.tables:
            raise PipelineError(
                f"derived table {name!r} has the name of a declared table: choose another"
            )
    reconciled = reconciled_tables(pipe)
    for name in pipe.derived:
        if name in reconciled:
            raise PipelineError(
                f"derived table {name!r} has the name of a reconciled table: choose another"
            )
    for table, rules in pipe.rules.items():
        where = f"pipe.rule({table!r})"
        if table not in pipe.tables and table not in pipe.derived and table not in reconciled:
            raise PipelineError(
                f"{where}: no such table, derived table or reconciled table; declare it with "
                "pipe.table(), pipe.derive() or pipe.reconcile()"
            )
        for rule in rules:
            if isinstance(rule, References):
                _check_reference(pipe, rule, where, final=True)


def evaluate(
    con: duckdb.DuckDBPyConnection, pipe: Pipeline, *, now: float | None = None
) -> list[RuleResult]:
    """Every rule of ``pipe`` (``pipe.rules``), evaluated over ``con``, where each table
    and derived table is a relation of its name: the results in declaration order (by
    table, then rule). ``now`` (seconds since the epoch; default: the clock) is what
    ``fresh`` measures ages against. Reads only.

    Raises PipelineError, before evaluating anything, for a rule on an undeclared
    table, or a table or column the connection lacks; and for a rule whose query
    DuckDB refuses (a custom query's error, a type mismatch), naming the rule."""
    import duckdb

    check_declarations(pipe)
    clock = time.time() if now is None else now
    keys = keys_of(pipe)
    columns: dict[str, set[str]] = {}
    for table, rules in pipe.rules.items():
        for rule in rules:
            needed = [(table, c) for c in rule.columns]
            if isinstance(rule, References):
                needed.append((rule.table, rule.target(keys)))
            for relation, column in needed:
                if relation not in columns:
                    columns[relation] = _columns(con, relation, duckdb.Error)
                if column.lower() not in columns[relation]:
                    raise PipelineError(
                        f"{rule.label} on {table!r}: {relation!r} has no column {column!r}"
                    )
        if table not in columns:
            columns[table] = _columns(con, table, duckdb.Error)
    results = []
    for table, rules in pipe.rules.items():
        scope = Scope(con, table, clock, keys)
        for rule in rules:
            try:
                results.append(rule.run(scope))
            except duckdb.Error as exc:
                raise PipelineError(
                    f"{rule.label} on {table!r}: DuckDB refused it: {first_line(exc)}"
                ) from exc
    return results


def _columns(con: duckdb.DuckDBPyConnection, relation: str, error: type[Exception]) -> set[str]:
    """The column names of ``relation``, lower case (DuckDB matches names in any case)."""
    try:
        cursor = con.execute(f"SELECT * FROM {quote(relation)} LIMIT 0")
    except error as exc:
        raise PipelineError(f"no table {relation!r} to check: {first_line(exc)}") from exc
    names = {d[0].lower() for d in cursor.description or ()}
    cursor.fetchall()  # finished, so the connection takes the next query
    return names
