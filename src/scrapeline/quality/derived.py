"""Derived tables: tables computed by SQL from the validated tables (and from derived
tables declared before them), published beside them and checked by the same rules.

    pipe.derive("standings", sql=STANDINGS_SQL, key=("league", "season", "team"))
    pipe.rule("standings", between("points", min=0))

    rows = materialise(con, pipe)   # {"standings": 412}
    results = evaluate(con, pipe)   # the rules of every table, derived ones included

A derived table's ``key`` is checked by :func:`~scrapeline.quality.rules.evaluate`, not
here: declaring one adds the rule ``unique(key)``, severity ``error``, to the table's
rules, so a duplicate key is a failing result like any other and keeps the tables
from being published.

    >>> import duckdb
    >>> from scrapeline.pipeline import Pipeline
    >>> pipe = Pipeline("football")
    >>> _ = pipe.table("matches", key="match_id")
    >>> _ = pipe.derive("teams", sql="SELECT DISTINCT home AS team FROM matches", key="team")
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE VIEW matches AS SELECT * FROM (VALUES (1, 'Ajax'), (2, 'PSV'),"
    ...                 " (3, 'Ajax')) AS t(match_id, home)")
    >>> materialise(con, pipe)
    {'teams': 2}
    >>> [(r.rule, r.passed) for r in evaluate(con, pipe)]
    [('unique(team)', True)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapeline.errors import PipelineError
from scrapeline.quality.rules import (
    TableRule,
    check_declarations,
    evaluate,
    first_line,
    quote,
    unique,
)

if TYPE_CHECKING:
    import duckdb

    from scrapeline.pipeline import Pipeline

__all__ = ["Derived", "derived_table", "evaluate", "materialise"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Derived:
    """A derived table: its name, the SELECT that computes it, its key (if any)."""

    name: str
    sql: str
    key: tuple[str, ...] | None = None


def derived_table(name: str, sql: str, key: str | Sequence[str] | None) -> Derived:
    """A :class:`Derived` from what ``pipe.derive`` was given. Raises PipelineError for
    an empty query, or a key that is not one or more column names."""
    if not isinstance(sql, str) or not sql.strip().rstrip(";").strip():
        raise PipelineError(f"derived table {name!r}: sql= is an empty query")
    columns: tuple[str, ...] | None
    if key is None:
        columns = None
    else:
        columns = (key,) if isinstance(key, str) else tuple(key)
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise PipelineError(
                f"derived table {name!r}: key= is a column name or several, got {key!r}"
            )
    return Derived(name=name, sql=sql.strip().rstrip(";").strip(), key=columns)


def key_rule(derived: Derived) -> list[TableRule]:
    """The rule a derived table's key adds to its rules: ``unique(key)``, or none."""
    return [unique(*derived.key)] if derived.key else []


def materialise(con: duckdb.DuckDBPyConnection, pipe: Pipeline) -> dict[str, int]:
    """Create each derived table of ``pipe`` in ``con`` (``CREATE OR REPLACE TABLE name
    AS query``), in declaration order, so each may read the tables and the derived
    tables before it. Returns the rows of each, in that order. Running it again
    replaces them with the same rows.

    Raises PipelineError naming the derived table whose query DuckDB refuses (with
    DuckDB's first line: a missing column, a table it cannot see — one declared
    after it, say), or whose name is already a relation of ``con`` that is not a
    table (a declared table's view); the derived tables before it stay created."""
    import duckdb

    check_declarations(pipe)
    rows: dict[str, int] = {}
    order = list(pipe.derived)
    for at, derived in enumerate(pipe.derived.values()):
        name = quote(derived.name)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS {derived.sql}")
            found = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
        except duckdb.Error as exc:
            later = [d for d in order[at + 1 :] if d in derived.sql]
            hint = (
                f" ({', '.join(map(repr, later))} is declared after it: a derived table "
                "reads only the tables and the derived tables declared before it)"
                if later
                else ""
            )
            raise PipelineError(f"derived table {derived.name!r}: {first_line(exc)}{hint}") from exc
        assert found is not None
        rows[derived.name] = int(found[0])
    return rows
