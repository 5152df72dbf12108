"""Pipeline declarations and graph validation. Pure: no I/O here.

A pipeline is a named set of *discoveries* (which enumerate items from a
paginated listing) and *stages* (async functions run once per item of a kind).

    pipe = Pipeline("football", base_url="http://127.0.0.1:8000")
    pipe.table("matches", key="match_id")

    @pipe.discover("match", pages=offsets(step=100))
    async def results(ctx, offset):
        page = await ctx.fetch(f"/results?offset={offset}")
        for row in page.css("tr.match"):
            yield Item(key=int(row.attributes["data-id"]))

A listing walks ``offsets(step=...)``, ``page_numbers()`` or ``cursors()`` (each
page calls ``ctx.next_page(cursor_or_url)``); it ends at an empty page, at a page
whose discovery calls ``ctx.last_page()``, or at a 404 or 410 past its first page.

    @pipe.stage("overview", on="match")
    async def overview(ctx, item):
        page = await ctx.fetch(f"/matches/{item.key}")
        ctx.emit(Item(kind="half", key=f"{item.key}-1"))
        return Record("matches", {"match_id": item.key, ...})

    @pipe.stage("half_stats", on="half", after="overview")
    async def half_stats(ctx, item): ...

``after`` names stages of the same kind (the same item must have finished
them) or of an ancestor kind (the item's ancestor must have finished them).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import orjson

from scrapeline.durations import parse_duration
from scrapeline.errors import ConfigError, PipelineError, ValidationError
from scrapeline.fetch.http1 import DEFAULT_MAX_BODY
from scrapeline.fetch.settings import FetcherName, FetchSettings
from scrapeline.model import (
    Dependency,
    FailurePolicy,
    Graph,
    Item,
    Key,
    Record,
    StageNode,
    Table,
)

if TYPE_CHECKING:
    from scrapeline.context import Context
    from scrapeline.fetch.contract import Expect
    from scrapeline.ops.alerts import RunEnd
    from scrapeline.quality.authority import Rule
    from scrapeline.quality.derived import Derived
    from scrapeline.quality.reconcile import Fuzzy, Reconciliation, Source
    from scrapeline.quality.rules import TableRule
    from scrapeline.quality.schema import Check, RecordCheck, Severity, TableSchema, Violation

RESERVED_TABLES: frozenset[str] = frozenset(
    {
        "runs",
        "runs_running",
        "runs_started",
        "items",
        "items_parent",
        "items_dated",
        "items_undated",
        "tasks",
        "tasks_status",
        "tasks_status_stage",
        "records",
        "records_task",
        "tasks_redone",
        "tasks_running",
        "tasks_failed",
        "attempts",
        "attempts_run",
        "walks",
        "stages",
        "tables",
        "item_changes",
        "item_changes_run",
        "quarantine",
        "quarantine_task",
        "quarantine_tbl",
    }
)
"""Names (lower case) the ledger uses for its own tables and indexes; a declared table
becomes a view of the same name beside them, so it may not take one (nor ``sqlite_*``)."""

_TABLE_NAME = re.compile(r"[^\x00-\x1f\"]*[^\x00-\x20\"][^\x00-\x1f\"]*")

StageFn: TypeAlias = Callable[["Context", "Item"], Awaitable[Any]]
DiscoverFn: TypeAlias = Callable[["Context", Any], AsyncIterator[Item]]
RunEndHook: TypeAlias = Callable[["RunEnd"], "Awaitable[None] | None"]


@dataclass(frozen=True, slots=True)
class Pages:
    """How a listing is paginated: by offset (``step`` rows a page), by page number,
    or by cursor (each page names the next: a token, or the URL of a "next" link)."""

    style: str  # "offset" | "page" | "cursor"
    step: int = 1
    first: int | None = 0
    """The first page's position: None for cursors (the discovery is called with None)."""

    @property
    def numbered(self) -> bool:
        """Whether the walk can count its pages (offsets, page numbers), not follow them."""
        return self.style != "cursor"

    def walk(self, start: int | None, end: int | None) -> Iterator[int]:
        """Page positions from ``start`` to ``end`` inclusive (unbounded when end is None).

        Raises PipelineError for cursors: only the pages themselves know the next one."""
        if self.first is None:
            raise PipelineError("a listing by cursor cannot be counted: follow ctx.next_page()")
        position = self.first if start is None else start
        while end is None or position <= end:
            yield position
            position += self.step


def offsets(step: int = 100, first: int = 0) -> Pages:
    """A listing paginated by offset: ``first``, ``first + step``, ..."""
    if step < 1:
        raise PipelineError("offsets(step=...) must be at least 1")
    return Pages("offset", step, first)


def page_numbers(first: int = 1) -> Pages:
    """A listing paginated by page number: ``first``, ``first + 1``, ..."""
    return Pages("page", 1, first)


def cursors() -> Pages:
    """A listing whose every page says where the next one is: a cursor, a token or
    the URL of a "next" link. The discovery is called with None for the first page,
    then with what it passed to ``ctx.next_page(...)``; a page that passes nothing
    is the last."""
    return Pages("cursor", 0, None)


@dataclass(frozen=True, slots=True)
class Discovery:
    name: str
    kind: str
    pages: Pages
    fn: DiscoverFn
    expect: Expect | None = None
    """The contract every listing page must meet (``ctx.fetch`` applies it)."""
    on: str | None = None
    """The parent kind: the listing is walked once per item of that kind, with the
    item in ``ctx.item`` (None: one top-level listing, walked every run)."""
    refresh: float | None = None
    """Seconds: a parent item dated (or first seen) within this long of now has its
    listing walked again every run, from the top (see :meth:`Pipeline.stage`)."""
    priority: int = 0

    def walk_name(self, parent: tuple[str, Key] | None = None) -> str:
        """The name the ledger keeps this listing's walk under: the discovery's
        name, and for a listing per parent the parent too (``events@season:2019``)."""
        if parent is None:
            return self.name
        return f"{self.name}@{parent[0]}:{orjson.dumps(parent[1]).decode()}"


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    kind: str
    fn: StageFn
    after: tuple[str, ...] = ()
    emits: str | None = None
    version: int = 1
    """Parser version: records remember it; raise it when the parse changes."""
    timeout: float | None = None
    expect: Expect | None = None
    """The contract every response this stage fetches must meet, unless a
    ``ctx.fetch(url, expect=...)`` call gives its own."""
    produces: tuple[str, ...] = ()
    """Every kind of child item the stage declares it emits (``emits`` is the one
    ``ctx.emit(key=...)`` uses, when there is only one)."""
    refresh: float | None = None
    """Seconds: items dated (or first seen) within this long of now run again every run."""
    priority: int = 0
    """Claimed before stages of a lower priority (then deeper work first)."""
    failure_policy: FailurePolicy | None = None
    """What a failed item of this stage does to the run (None: the pipeline's)."""


class Pipeline:
    """A named set of discoveries and stages over kinds of items."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        hosts: Sequence[str] = (),
        workers: int | None = None,
        rate: str | float | None = None,
        delay: tuple[float, float] | float | None = None,
        concurrency: int = 8,
        max_attempts: int = 4,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        cookies: Mapping[str, str] | None = None,
        proxies: Sequence[str] = (),
        robots: bool = True,
        secrets: Sequence[str] = (),
        fetcher: str = "http",
        ready_selector: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        robots_agent: str | None = None,
        failure_policy: str = "continue",
    ) -> None:
        """Declare a pipeline.

        ``base_url`` resolves relative URLs and its host is allowed; ``hosts``
        names any other host stages may fetch from (all others are refused).
        Politeness per host: ``rate`` ("2/s", "30/m") or ``delay`` (seconds
        between requests, or a (min, max) range drawn with jitter), and at most
        ``concurrency`` requests in flight. ``max_attempts`` bounds retries of
        transient failures. ``workers`` is the default number of items in flight.

        Identity: ``user_agent`` and ``headers`` go with every request; ``cookies``
        are sent to ``base_url``'s host from the first request, and cookies the
        site sets are kept for the run. ``proxies`` (``http://[user:pass@]host:port``)
        take turns, a failing one is benched. robots.txt is honoured unless
        ``robots=False``. ``secrets`` are extra values (API keys in URLs, tokens)
        kept out of logs, the console and the ledger, besides the ones found in
        sensitive headers, cookies and proxy URLs (:meth:`secret_values`).

        ``fetcher="browser"`` renders every page in headless Chromium (the
        ``scrapeline[browser]`` extra), for JavaScript-built or guarded sites; each
        page is returned once ``ready_selector`` matches (``"#match, table#results"``
        matches either). Without ``user_agent`` the browser sends its own.

        ``max_body`` is the most bytes a response body may have, as sent and once
        decompressed (32 MiB by default); a larger one fails the item as ``too_large``.
        robots.txt groups are matched against ``robots_agent`` (default: the
        pipeline's name), never a browser-like ``user_agent``.

        ``failure_policy`` says what a failed item (after its retries) does to a run:
        ``"continue"`` (go on; exit 1 at the end), ``"fail-fast"`` (stop at the first
        one: exit 3, naming the stage and item) or ``"retry-at-end"`` (one more pass
        over the failed items once the rest is done). A stage may declare its own;
        a run's options override both. Any other name raises ConfigError.
        """
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise PipelineError(f"pipeline name must be letters, digits, - or _: {name!r}")
        self.name = name
        self.failure_policy = FailurePolicy.named(failure_policy)
        """What a failed item does to a run, for stages that declare no policy."""
        self.fetch = FetchSettings(
            base_url=base_url,
            hosts=tuple(hosts),
            rate=rate,
            delay=delay,
            concurrency=concurrency,
            max_attempts=max_attempts,
            headers=headers or {},
            user_agent=user_agent,
            cookies=cookies or {},
            # a str is one entry, not its characters
            proxies=(proxies,) if isinstance(proxies, str) else tuple(proxies),
            robots=robots,
            robots_agent=robots_agent or name,
            secrets=(secrets,) if isinstance(secrets, str) else tuple(secrets),
            fetcher=cast("FetcherName", fetcher),  # FetchSettings refuses any other
            ready_selector=ready_selector,
            max_body=max_body,
        )
        """How the stages reach the network: replaced as a whole, never changed."""
        self.workers = workers
        """The default number of items in flight (a run's ``--workers`` overrides it)."""
        self.discoveries: list[Discovery] = []
        self.stages: dict[str, Stage] = {}
        self.tables: dict[str, Table] = {}
        self.schemas: dict[str, TableSchema] = {}
        """The declared columns and types of the tables that have a schema (``schema=``)."""
        self.checks: dict[str, list[Check]] = {}
        """The record checks of each table, in declaration order: :meth:`check`."""
        self.reconciliations: dict[str, Reconciliation] = {}
        """The entity tables built from several source tables: :meth:`reconcile`."""
        self.rules: dict[str, list[TableRule]] = {}
        """The table rules of each table and derived table, in declaration order: :meth:`rule`."""
        self.derived: dict[str, Derived] = {}
        """The derived tables, in declaration order: :meth:`derive`."""
        self.refresh_windows: dict[str, float] = {}
        """Refresh windows (seconds) declared per kind: :meth:`refresh`."""
        self.run_end_hooks: list[RunEndHook] = []
        """Called with each run's end: :meth:`on_run_end`."""

    # -- fetch settings, read through ``self.fetch`` ---------------------------

    @property
    def base_url(self) -> str | None:
        return self.fetch.base_url

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.fetch.hosts

    @property
    def rate(self) -> str | float | None:
        return self.fetch.rate

    @property
    def delay(self) -> tuple[float, float] | float | None:
        return self.fetch.delay

    @property
    def concurrency(self) -> int:
        return self.fetch.concurrency

    @property
    def max_attempts(self) -> int:
        return self.fetch.max_attempts

    @property
    def headers(self) -> Mapping[str, str]:
        return self.fetch.headers

    @property
    def user_agent(self) -> str | None:
        return self.fetch.user_agent

    @property
    def cookies(self) -> Mapping[str, str]:
        return self.fetch.cookies

    @property
    def proxies(self) -> tuple[str, ...]:
        return self.fetch.proxies

    @property
    def robots(self) -> bool:
        return self.fetch.robots

    @property
    def robots_agent(self) -> str | None:
        return self.fetch.robots_agent

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.fetch.secrets

    @property
    def fetcher(self) -> str:
        return self.fetch.fetcher

    @property
    def ready_selector(self) -> str | None:
        return self.fetch.ready_selector

    @property
    def max_body(self) -> int:
        return self.fetch.max_body

    def secret_values(self) -> tuple[str, ...]:
        """Every value to keep out of logs, the console and the ledger, as
        :meth:`~scrapeline.fetch.settings.FetchSettings.secret_values` finds them."""
        return self.fetch.secret_values()

    # -- declarations ------------------------------------------------------

    def table(self, name: str, *, key: str | Sequence[str], schema: Any = None) -> Table:
        """Declare a table of records, upserted by its ``key`` column(s).

        ``schema``: its columns and types, a pydantic model or a mapping of column
        names to types (``{"match_id": int, "date": datetime.date, "ht": int | None}``).
        Each record is then validated and coerced on the way in, and one that breaks
        the schema (or an ``error`` check) is quarantined, not stored. Without one,
        records are stored as given (any JSON).

        Raises PipelineError for a name the ledger keeps for itself (its own tables,
        indexes and anything starting ``sqlite_``, in any case), or one that is empty or
        holds a double quote or a control character; for a schema that is not one, or
        that lacks a key column or lets it be empty."""
        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            raise PipelineError(
                f"table name must be non-empty text without quotes or control characters: {name!r}"
            )
        if name.lower() in RESERVED_TABLES or name.lower().startswith("sqlite_"):
            raise PipelineError(
                f"table name {name!r} is kept by the ledger for its own use: choose another"
            )
        columns = (key,) if isinstance(key, str) else tuple(key)
        if not columns:
            raise PipelineError(f"table {name!r} needs at least one key column")
        if schema is not None:
            from scrapeline.quality.schema import schema_of  # pydantic: only with a schema

            declared = schema_of(name, schema)
            for column in columns:
                found = declared.column(column)
                if found is None:
                    raise PipelineError(
                        f"table {name!r}: the key column {column!r} is not in its schema "
                        f"(which has {', '.join(declared.names)})"
                    )
                if found.nullable:
                    raise PipelineError(
                        f"table {name!r}: the key column {column!r} may be empty in its "
                        "schema: declare it without None"
                    )
            declared.checks[:] = self.checks.setdefault(name, [])
            self.checks[name] = declared.checks  # one list: checks declared later count
            self.schemas[name] = declared
        table = Table(name, columns)
        self.tables[name] = table
        return table

    def check(
        self, table: str, *, severity: Severity = "error", name: str | None = None
    ) -> Callable[[RecordCheck], RecordCheck]:
        """Declare a record check of ``table``: a function given each validated record
        (a dict) that returns True or None when it holds, False or a reason (text)
        when it does not.

            @pipe.check("matches")
            def half_time_within_full_time(r):
                \"\"\"half-time goals exceed full-time goals\"\"\"
                return r["ht_home"] is None or r["ht_home"] <= r["home_goals"]

        ``severity="error"`` (default): a record that breaks it is quarantined, not
        stored, and its item fails (category ``validation``); ``"warn"``: the record
        is stored and the breach counted in the run's summary. A False says the
        docstring's first line as the reason (else the check's name)."""
        from scrapeline.quality.schema import SEVERITIES, Check

        if table not in self.tables:
            raise PipelineError(
                f"@pipe.check({table!r}): no such table; declare it first with pipe.table()"
            )
        if severity not in SEVERITIES:
            raise PipelineError(f"@pipe.check severity must be 'error' or 'warn', not {severity!r}")

        def register(fn: RecordCheck) -> RecordCheck:
            doc = (inspect.getdoc(fn) or "").strip().splitlines()
            check = Check(
                table=table,
                name=name or str(getattr(fn, "__name__", "check")),
                fn=fn,
                severity=severity,
                reason=doc[0] if doc else "",
            )
            self.checks.setdefault(table, []).append(check)
            return fn

        return register

    def reconcile(
        self,
        name: str,
        *,
        sources: Mapping[str, str | Source],
        identity: str | Sequence[str],
        tie_breakers: Sequence[str] = (),
        fields: Mapping[str, Rule] | None = None,
        aliases: Mapping[str, Mapping[str, str]] | None = None,
        fuzzy: Fuzzy | None = None,
        required: Sequence[str] | frozenset[str] | set[str] = (),
        key: str = "id",
    ) -> Reconciliation:
        """Declare an entity table ``name`` built from several declared source tables
        (``{source name: table}``, or ``source(table, rename={"full_name": "name"})``
        where its columns are named differently), matched on the normalised
        ``identity`` field(s), told apart by ``tie_breakers`` when one identity matches
        several, each field taken by its authority rule in ``fields`` (``prefer``,
        ``latest``, ``most_frequent``, ``custom``; others ``prefer`` in source order).
        ``aliases`` maps spellings per field; ``fuzzy=fuzzy(threshold=90)`` matches close
        spellings; a ``required`` source's records must match an entity (they never make
        one); ``key`` is the entity table's id column. See docs/reconciliation.md.

        Raises PipelineError for a name already taken, a source table not declared
        (declare tables first), and what :func:`~scrapeline.quality.reconcile.reconciliation`
        refuses."""
        from dataclasses import replace

        from scrapeline.quality.reconcile import Source, reconciliation

        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            raise PipelineError(f"reconcile: a name without quotes or control characters: {name!r}")
        if name in self.reconciliations or name in self.tables:
            raise PipelineError(f"reconcile {name!r}: the name is already a table's")
        for published in (name, f"{name}_conflicts", f"{name}_unresolved"):
            if published in self.tables or published in self.derived:
                raise PipelineError(
                    f"reconcile {name!r}: it publishes a table {published!r}, and a table "
                    "or derived table has that name"
                )
        if name.lower() in RESERVED_TABLES or name.lower().startswith("sqlite_"):
            raise PipelineError(f"reconcile {name!r}: the ledger keeps the name for its own use")
        if not isinstance(sources, Mapping):
            raise PipelineError(f"reconcile {name!r}: sources= maps source names to tables")
        keyed: dict[str, str | Source] = {}
        for label, given in sources.items():
            src = Source(given) if isinstance(given, str) else given
            table = self.tables.get(src.table) if isinstance(src, Source) else None
            if isinstance(src, Source) and table is None:
                raise PipelineError(
                    f"reconcile {name!r}: source {label!r} reads table {src.table!r}, which is "
                    "not declared: declare it first with pipe.table()"
                )
            keyed[label] = replace(src, key=src.key or table.key) if table else given
        declared = reconciliation(
            name,
            sources=keyed,
            identity=identity,
            tie_breakers=tie_breakers,
            fields=fields,
            aliases=aliases,
            fuzzy=fuzzy,
            required=required,
            key=key,
        )
        self.reconciliations[name] = declared
        return declared

    def rule(self, table: str, *rules: TableRule) -> None:
        """Declare rules over the whole of ``table`` (a table or a derived table),
        checked in DuckDB before it is published (``quality.rules``):

            pipe.rule("matches", unique("match_id"), not_null("home", "away"),
                      between("home_goals", min=0), fresh("date", "3d", severity="warn"))

        Raises PipelineError for something that is not a rule, and, for a table with
        a schema, a column it does not have. A name not declared yet may be a derived
        table declared later; :meth:`validate` (and evaluating) refuses it if it is not."""
        from scrapeline.quality.rules import declare

        declare(self, table, rules)

    def derive(self, name: str, *, sql: str, key: str | Sequence[str] | None = None) -> Derived:
        """Declare a derived table: the rows of ``sql`` (a SELECT over the tables and
        the derived tables declared before it, by name), published with the tables.

            pipe.derive("standings", sql=STANDINGS_SQL, key=("league", "season", "team"))

        A ``key`` adds the rule ``unique(key)`` (severity error) to its rules. Raises
        PipelineError for a name that is not a valid table name or that a table or
        another derived table has, or an empty query."""
        from scrapeline.quality.derived import derived_table, key_rule

        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            raise PipelineError(
                f"derived table name must be non-empty text without quotes or control "
                f"characters: {name!r}"
            )
        if name.lower() in RESERVED_TABLES or name.lower().startswith("sqlite_"):
            raise PipelineError(
                f"derived table name {name!r} is kept by the ledger: choose another"
            )
        taken: dict[str, Mapping[str, object]] = {
            "a table": self.tables,
            "another derived table": self.derived,
            "a reconciled table": {
                t: n for n in self.reconciliations for t in (n, f"{n}_conflicts", f"{n}_unresolved")
            },
        }
        for what, names in taken.items():
            if name in names:
                raise PipelineError(f"derived table {name!r}: {what} has that name")
        derived = derived_table(name, sql, key)
        self.derived[name] = derived
        if derived.key:  # its key's rule first, before any declared already
            self.rules[name] = [*key_rule(derived), *self.rules.get(name, [])]
        return derived

    def discover(
        self,
        kind: str,
        *,
        on: str | None = None,
        pages: Pages | None = None,
        expect: Expect | None = None,
        refresh: str | float | None = None,
        priority: int = 0,
    ) -> Callable[[DiscoverFn], DiscoverFn]:
        """Declare a discovery of items of ``kind`` over a listing paginated by ``pages``.

        Without ``on`` it is one top-level listing, walked every run. With
        ``on="season"`` it is a listing per season: it runs once for each item of
        that kind (``ctx.item`` is the season), the items it finds get that season as
        their parent, and each listing keeps its own walk (interrupted, it resumes at
        its page; a failed page is retried next run from there).

        ``expect`` is the contract each listing page must meet: a page that breaks
        it is a ``contract`` error, never an empty page that ends the walk.
        ``refresh`` ("7d") walks again, every run, the listings of parents dated (or
        first seen) that recently; ``priority`` as for :meth:`stage`."""
        window = _window(refresh, "discover")

        def register(fn: DiscoverFn) -> DiscoverFn:
            if not inspect.isasyncgenfunction(fn):
                raise PipelineError(
                    f"discovery {fn.__name__!r} must be an async generator (async def ... yield)"
                )
            if fn.__name__ in self.stages or any(d.name == fn.__name__ for d in self.discoveries):
                raise PipelineError(
                    f"discovery {fn.__name__!r} takes the name of another stage or discovery"
                )
            if window is not None and on is None:
                raise PipelineError(
                    f"discovery {fn.__name__!r}: refresh= is for a listing per parent "
                    "(on=...); a top-level listing is walked every run"
                )
            self.discoveries.append(
                Discovery(fn.__name__, kind, pages or offsets(), fn, expect, on, window, priority)
            )
            return fn

        return register

    def stage(
        self,
        name: str,
        *,
        on: str,
        after: str | Sequence[str] = (),
        emits: str | Sequence[str] | None = None,
        version: int = 1,
        timeout: float | None = None,
        expect: Expect | None = None,
        refresh: str | float | None = None,
        priority: int = 0,
        failure_policy: str | None = None,
    ) -> Callable[[StageFn], StageFn]:
        """Declare a stage run once per item of kind ``on``.

        ``refresh="7d"`` runs the stage again, every run, on items whose ``date`` is
        within seven days of now, or that have no date and were first seen less than
        seven days ago (results corrected after publication); those re-fetches are conditional, and
        a page the site says is unchanged (304) keeps its records without a parse.

        Work is claimed depth first: an item's later stages and its children before
        the next item's first stage, so an interrupted run leaves whole items.
        ``priority`` puts a stage's tasks before those of lower priority (default 0).

        ``expect`` declares what a good response looks like (status, content type,
        CSS selectors, JSON keys); every ``ctx.fetch`` of the stage checks it unless
        the call passes its own ``expect=``. A response that breaks it fails the
        item with category ``contract`` instead of being parsed into empty data.

        ``emits`` names the kind of the child items the stage emits, or several kinds
        (then each ``ctx.emit`` gives ``Item(kind=...)``). A stage runs only on items
        that a discovery yields or a stage declares it emits: :meth:`validate` refuses
        a stage on a kind nothing produces.

        ``failure_policy`` ("continue", "fail-fast", "retry-at-end") overrides the
        pipeline's for this stage's items; any other name raises ConfigError."""
        policy = (
            None
            if failure_policy is None
            else FailurePolicy.named(failure_policy, f"stage {name!r}: failure_policy")
        )
        kinds = (emits,) if isinstance(emits, str) else tuple(emits or ())
        default_kind = kinds[0] if len(kinds) == 1 else None
        window = _window(refresh, f"stage {name!r}")

        def register(fn: StageFn) -> StageFn:
            if name in self.stages:
                raise PipelineError(f"stage {name!r} is declared twice")
            if any(d.name == name for d in self.discoveries):
                raise PipelineError(f"stage {name!r} takes the name of a discovery")
            if not inspect.iscoroutinefunction(fn):
                raise PipelineError(f"stage {name!r} must be an async function")
            deps = (after,) if isinstance(after, str) else tuple(after)
            self.stages[name] = Stage(
                name,
                on,
                fn,
                deps,
                default_kind,
                version,
                timeout,
                expect,
                kinds,
                window,
                priority,
                policy,
            )
            return fn

        return register

    def on_run_end(self, fn: RunEndHook) -> RunEndHook:
        """Register ``fn`` to be called with how each run ended, a
        :class:`~scrapeline.ops.alerts.RunEnd` (pipeline, run id, status, exit code,
        reason, counts, profile, data dir), once the run has ended: for notifiers of
        the pipeline's own. ``fn`` may be async. One that raises is logged and
        changes nothing: the run's status and exit code stay the run's::

            @pipe.on_run_end
            async def tell_the_team(end):
                if end.status != "done":
                    await post_to_chat(f"{end.pipeline} run {end.run_id}: {end.reason}")
        """
        if not callable(fn):
            raise PipelineError(f"on_run_end takes a function, got {fn!r}")
        self.run_end_hooks.append(fn)
        return fn

    def encode_record(self, record: Record) -> tuple[str, str]:
        """A record's primary key and JSON text, as they are stored: see
        :meth:`check_record`, whose warnings this drops."""
        pk, data, _ = self.check_record(record)
        return pk, data

    def check_record(self, record: Record) -> tuple[str, str, tuple[Violation, ...]]:
        """A record's primary key, its JSON text as stored, and the ``warn`` rules it
        broke: validated and coerced by its table's schema when it has one, and run
        through the table's record checks.

        Raises ValidationError for an undeclared table, a missing key column, or
        data that is not JSON: the checks every record passes before it is written;
        its subclass RecordInvalid for a record that broke an ``error`` rule (the
        schema, or a check), which is quarantined."""
        table = self.tables.get(record.table)
        if table is None:
            raise ValidationError(
                f"record for undeclared table {record.table!r}: "
                f"declare it with pipe.table({record.table!r}, key=...)"
            )
        schema = self.schemas.get(record.table)
        if schema is not None:
            checked = schema.check(record.data)
            return table.primary_key(checked.data), checked.json, checked.warnings
        try:
            data = orjson.dumps(record.data).decode()
        except TypeError as exc:
            raise ValidationError(f"record for {record.table!r} is not JSON: {exc}") from None
        warnings: tuple[Violation, ...] = ()
        checks = self.checks.get(record.table)
        if checks:
            from scrapeline.quality.schema import RecordInvalid

            broken = tuple(v for v in (c.run(dict(record.data)) for c in checks) if v)
            if any(v.severity == "error" for v in broken):
                raise RecordInvalid(record.table, broken, record.data)
            warnings = broken
        return table.primary_key(record.data), data, warnings

    # -- graph ---------------------------------------------------------------

    def refresh(self, kind: str, within: str | float) -> None:
        """Refresh every stage and listing on ``kind`` (``pipe.refresh("event", "7d")``)
        that declares no ``refresh=`` of its own: see :meth:`stage`."""
        window = _window(within, f"refresh of {kind!r}")
        assert window is not None
        self.refresh_windows[kind] = window

    # -- graph ---------------------------------------------------------------

    @property
    def kinds(self) -> list[str]:
        seen: dict[str, None] = {}
        for d in self.discoveries:
            seen[d.kind] = None
        for s in self.stages.values():
            seen[s.kind] = None
        return list(seen)

    @property
    def top_listings(self) -> list[Discovery]:
        """The top-level discoveries: one listing each, walked every run."""
        return [d for d in self.discoveries if d.on is None]

    @property
    def listings(self) -> dict[str, Discovery]:
        """The discoveries per parent item (``on=``), by name: each is a task of its
        parent kind in the ledger, like a stage."""
        return {d.name: d for d in self.discoveries if d.on is not None}

    def stages_of(self, kind: str) -> list[Stage]:
        return [s for s in self.stages.values() if s.kind == kind]

    def tasks_of(self, kind: str) -> int:
        """How many tasks an item of ``kind`` gets: its stages and its listings."""
        return len(self.stages_of(kind)) + sum(d.on == kind for d in self.discoveries)

    def refresh_window(self, name: str) -> float | None:
        """Seconds within which a task of stage (or listing) ``name`` is refreshed."""
        task = self.stages.get(name) or self.listings.get(name)
        if task is None:
            return None
        kind = task.kind if isinstance(task, Stage) else task.on
        assert kind is not None
        return task.refresh if task.refresh is not None else self.refresh_windows.get(kind)

    def dependencies(self, stage: str) -> list[Dependency]:
        own = self.stages[stage]
        return [
            Dependency(d, self.stages[d].kind == own.kind, self.stages[d].kind) for d in own.after
        ]

    def validate(self) -> None:
        """Raise PipelineError when the pipeline cannot run as declared: no discovery,
        unknown stage names, cycles, or a stage (or listing per parent) on a kind that
        no discovery yields and no stage emits (it would never run); table rules on a
        name that is neither a table nor a derived table."""
        self._validate_graph()
        produced = {d.kind for d in self.discoveries}
        produced.update(kind for s in self.stages.values() for kind in s.produces)
        for s in self.stages.values():
            if s.kind not in produced:
                raise PipelineError(
                    f"stage {s.name!r} runs on kind {s.kind!r}, which no discovery yields "
                    f"and no stage emits: declare emits={s.kind!r} on the stage that emits it"
                )
        for d in self.listings.values():
            if d.on not in produced:
                raise PipelineError(
                    f"discovery {d.name!r} runs on kind {d.on!r}, which no discovery yields "
                    f"and no stage emits"
                )
        for kind in self.refresh_windows:
            if kind not in produced:
                raise PipelineError(f"refresh of kind {kind!r}, which nothing yields")
        if self.rules or self.derived:
            from scrapeline.quality.rules import check_declarations

            check_declarations(self)

    def _validate_graph(self) -> None:
        """The checks the ledger's graph needs: a discovery, known names, no cycle."""
        if not self.top_listings:
            if self.discoveries:
                raise PipelineError(
                    f"pipeline {self.name!r} has no top-level discovery: every one is on=... "
                    "a parent kind, so nothing would ever start"
                )
            raise PipelineError(f"pipeline {self.name!r} declares no discovery (@pipe.discover)")
        for s in self.stages.values():
            for d in s.after:
                if d not in self.stages:
                    raise PipelineError(f"stage {s.name!r} is after unknown stage {d!r}")
        for s in self.stages.values():
            _check_acyclic(self, s.name, [])

    def graph(self) -> Graph:
        """The stages, kinds and dependencies the ledger works from. A listing per
        parent is a node too: a task of its parent kind, with no dependencies.

        Raises PipelineError as :meth:`_validate_graph`; :meth:`validate` checks more."""
        self._validate_graph()
        nodes = {
            s.name: StageNode(s.name, s.kind, tuple(self.dependencies(s.name)))
            for s in self.stages.values()
        }
        for d in self.listings.values():
            assert d.on is not None
            nodes[d.name] = StageNode(d.name, d.on, ())
        return Graph(stages=nodes, claim_order=self.claim_order())

    def claim_order(self) -> tuple[str, ...]:
        """Stage and listing names in the order their work is claimed: by priority,
        then deepest first (a kind further down the tree of kinds, then a stage
        later in its kind's chain of ``after``), a kind's listings before its
        stages, then as declared. Depth first: an
        item's later stages and its children are done before the next item starts.

            >>> pipe = Pipeline("p")
            >>> pipe.discover("match")(_example_listing)
            <function _example_listing ...>
            >>> for name, on, after, emits in [("overview", "match", (), "map"),
            ...         ("players", "match", ("overview",), None), ("stats", "map", (), None)]:
            ...     pipe.stage(name, on=on, after=after, emits=emits)(_example_stage)
            <function ...>
            <function ...>
            <function ...>
            >>> pipe.claim_order()
            ('stats', 'players', 'overview')
        """
        depth = self._kind_depths()
        rank: dict[str, tuple[int, int, int, int, int]] = {}
        for n, s in enumerate(self.stages.values()):
            rank[s.name] = (-s.priority, -depth.get(s.kind, 0), -self._chain(s.name), 1, n)
        for n, d in enumerate(self.listings.values()):
            assert d.on is not None  # a listing leads further down: before its kind's stages
            rank[d.name] = (-d.priority, -depth.get(d.on, 0), 0, 0, n)
        return tuple(sorted(rank, key=rank.__getitem__))

    def _kind_depths(self) -> dict[str, int]:
        """How far down the tree of kinds each kind is: 0 for a top-level listing's."""
        depth = {d.kind: 0 for d in self.top_listings}
        frontier = list(depth)
        while frontier:
            kind = frontier.pop(0)
            below = [d.kind for d in self.discoveries if d.on == kind]
            below += [k for s in self.stages_of(kind) for k in s.produces]
            for child in below:
                if child not in depth:
                    depth[child] = depth[kind] + 1
                    frontier.append(child)
        return depth

    def _chain(self, stage: str) -> int:
        """How many stages of its own kind come before ``stage`` (the longest chain)."""
        own = self.stages[stage]
        same = [self._chain(d) + 1 for d in own.after if self.stages[d].kind == own.kind]
        return max(same, default=0)


def _check_acyclic(pipe: Pipeline, name: str, path: list[str]) -> None:
    if name in path:
        cycle = " → ".join([*path[path.index(name) :], name])
        raise PipelineError(f"stages depend on each other in a cycle: {cycle}")
    for dep in pipe.stages[name].after:
        _check_acyclic(pipe, dep, [*path, name])


def as_records(result: Any, stage: str) -> list[Record]:
    """Normalise what a stage returned (None, a Record, or an iterable of them)."""
    if result is None:
        return []
    if isinstance(result, Record):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, (str, bytes, dict)):
        records = list(result)
        if all(isinstance(r, Record) for r in records):
            return records
    raise ValidationError(
        f"stage {stage!r} must return a Record, a list of Records or None, "
        f"not {type(result).__name__}"
    )


def _window(refresh: str | float | None, what: str) -> float | None:
    """A refresh window in seconds ("7d", "12h", or a number of seconds)."""
    if refresh is None:
        return None
    if isinstance(refresh, str):
        try:
            return parse_duration(refresh)
        except ConfigError as exc:
            raise PipelineError(f"{what}: refresh={refresh!r}: {exc}") from None
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or refresh <= 0:
        raise PipelineError(f"{what}: refresh= takes a duration such as '7d', not {refresh!r}")
    return float(refresh)


async def _example_listing(ctx: Context, position: Any) -> AsyncIterator[Item]:
    """A discovery for the doctests."""
    yield Item(key=position)


async def _example_stage(ctx: Context, item: Item) -> None:
    """A stage for the doctests."""
