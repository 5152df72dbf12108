"""One stage on one item: the call, its result as the ledger stores it, or its failure.

Shared by the run loop and ``scrapeline check``, so that both hold a stage to the
same rules: the same Context, the same timeout, the same checks of what it returned
(records of declared tables with their keys, children the ledger can store) and the
same category and message for whatever it raised, with secrets redacted.

A stage's time limit is kept either by the call itself (``asyncio.timeout``, one timer
per call: fine for one item) or, in a run, by :class:`Deadlines`, one timer for every
worker's item, so the run loop's hot path schedules no timer per item.

``scrapeline.testing.run_stage`` runs it on canned responses, with a runnable example."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from scrapeline.context import Context, Fetch
from scrapeline.errors import (
    Category,
    ItemError,
    ItemTimeout,
    LedgerError,
    RunHalted,
    ValidationError,
    categorize,
)
from scrapeline.ledger.base import NewItem, QuarantinedRecord, RecordRow
from scrapeline.model import Item, Key, Record
from scrapeline.pipeline import Pipeline, Stage, as_records
from scrapeline.secrets import redact

if TYPE_CHECKING:
    from scrapeline.quality.schema import RecordInvalid

log = logging.getLogger("scrapeline.runner")


# Made once per transition on the loop's hot path: not frozen (a frozen dataclass
# takes twice as long to build). Read-only by convention.
@dataclass(slots=True, kw_only=True)
class Executed:
    """What one stage did on one item: its records and children, or why it failed."""

    ok: bool
    started: float
    duration: float
    records: list[RecordRow] = field(default_factory=list)
    children: list[NewItem] = field(default_factory=list)
    category: str = ""
    """Why it failed (a :class:`~scrapeline.errors.Category`); empty when ``ok``."""
    message: str = ""
    """One line, secrets redacted; empty when ``ok``."""
    error: BaseException | None = None
    """What the stage raised, for a caller that wants more than the message."""
    handed: dict[str, Any] | None = None
    """What the stage handed on (``ctx.hand_on``); None when it handed nothing on
    or failed."""
    refresh: bool = False
    """The stage ran again for a refresh (its fetches were conditional)."""
    unchanged: bool = False
    """Done as unchanged: the refresh's first fetch was answered 304 Not Modified, so
    nothing was parsed (no records, no children) and the ledger keeps what the task's
    earlier completion stored."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """The ``warn`` rules its records broke, (table, rule) once per record and rule:
    counted for the run's summary; the records are stored."""
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    """Its records that broke an ``error`` rule, when that is why it failed
    (category ``validation``): quarantined with the failure, nothing else stored."""


class Deadlines:
    """Time limits of the items a run's workers are on, kept by one timer for all.

    :meth:`arm` before a stage call, :meth:`disarm` after it, in the task that makes
    the call (one item per task at a time). When an item's deadline passes, its task
    is cancelled, as ``asyncio.timeout`` would; :meth:`disarm` then says it expired,
    and takes that cancellation back unless someone else (the run) cancelled the task
    too. The timer is one loop handle at the soonest deadline: arming an item costs a
    dict entry, and the handle fires about once per time limit, not once per item.

    :meth:`pause` stops an item's clock while it waits for the host's sake (a
    politeness slot, a 429's pause, a breaker's cooldown, a retry's backoff) and
    :meth:`resume` starts it again with the time it had left (:func:`time_left`,
    :func:`deadline_from`): the limit counts the item's own work, not the host's.
    Not thread-safe: the loop's thread only."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed: dict[asyncio.Task[Any], tuple[float, int]] = {}
        """Each task's deadline (loop time) and how many cancellations it had before."""
        self._expired: dict[asyncio.Task[Any], int] = {}
        self._paused: dict[asyncio.Task[Any], tuple[float, int]] = {}
        """Each waiting task's seconds left, and its cancellations before it was armed."""
        self._timer: asyncio.TimerHandle | None = None
        self._when = 0.0

    def arm(self, seconds: float) -> asyncio.Task[Any]:
        """Give the current task's item ``seconds``; returns the task, for :meth:`disarm`."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("Deadlines.arm() must be called from a task")
        deadline = loop.time() + seconds
        self._armed[task] = (deadline, task.cancelling())
        if self._timer is None or deadline < self._when:
            self._set_timer(deadline)
        return task

    def disarm(self, task: asyncio.Task[Any]) -> bool:
        """Take the item's deadline off. True when it expired and its cancellation was
        the task's only one: the item timed out and the cancel is taken back (a
        CancelledError the task is raising is then the timeout's, not the run's)."""
        if self._armed.pop(task, None) is not None:
            return False  # the usual way: finished in time, nothing else to do
        if self._paused.pop(task, None) is not None:
            return False  # finished (or cancelled) while waiting: its clock was stopped
        before = self._expired.pop(task, None)
        if before is None:
            return False
        return task.uncancel() <= before

    def pause(self, task: asyncio.Task[Any]) -> None:
        """Stop the clock of ``task``'s item (it waits for the host). Nothing happens
        to a task not armed, already paused, or whose deadline has already passed."""
        armed = self._armed.pop(task, None)
        if armed is not None:
            assert self._loop is not None
            deadline, before = armed
            self._paused[task] = (time_left(deadline, self._loop.time()), before)

    def resume(self, task: asyncio.Task[Any]) -> None:
        """Start the clock of ``task``'s item again, with the time it had left when
        paused. Nothing happens to a task that is not paused."""
        paused = self._paused.pop(task, None)
        if paused is not None:
            assert self._loop is not None
            left, before = paused
            deadline = deadline_from(left, self._loop.time())
            self._armed[task] = (deadline, before)
            if self._timer is None or deadline < self._when:
                self._set_timer(deadline)

    def close(self) -> None:
        """Cancel the timer (the run is over); deadlines still armed never expire."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed.clear()
        self._paused.clear()

    def _set_timer(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._when = when
        self._timer = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Cancel every task whose deadline has passed; set the timer for the next."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        soonest: float | None = None
        for task, (deadline, before) in list(self._armed.items()):
            if deadline <= now:
                del self._armed[task]
                self._expired[task] = before
                task.cancel()
            elif soonest is None or deadline < soonest:
                soonest = deadline
        if soonest is not None:
            self._set_timer(soonest)


def time_left(deadline: float, now: float) -> float:
    """Seconds an item has left at ``now`` when its limit runs out at ``deadline``
    (none, once it has passed): what :meth:`Deadlines.pause` keeps.

    >>> time_left(10.0, 4.0), time_left(10.0, 12.0)
    (6.0, 0.0)
    """
    return max(0.0, deadline - now)


def deadline_from(left: float, now: float) -> float:
    """When an item's limit runs out if its clock starts again at ``now`` with
    ``left`` seconds: what :meth:`Deadlines.resume` arms.

    >>> deadline_from(6.0, 20.0)
    26.0
    """
    return now + left


async def execute(
    pipeline: Pipeline,
    stage: Stage,
    item: Item,
    *,
    fetch: Fetch,
    timeout: float | None,
    config: Mapping[str, Any] | None = None,
    run_id: int = 0,
    secrets: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
    deadlines: Deadlines | None = None,
    refresh: bool = False,
) -> Executed:
    """Run ``stage`` on ``item`` within ``timeout`` seconds (None: no limit).

    ``refresh``: the task runs again because its item is within its refresh window.
    Its fetches are conditional, and when the first is answered unchanged (the
    context raises :class:`Unchanged`) the outcome is done and ``unchanged``, with no
    records and no children: whatever the stage returned or raised after that
    first fetch, had it caught the signal, is disregarded (the run's halt and its
    cancellation excepted). See :class:`~scrapeline.errors.Unchanged`.

    The limit is kept by ``deadlines`` when given (a run's workers share one), else
    by a timer of this call's own. In a run the limit counts the item's own work: the
    time it waits for the host (:meth:`Deadlines.pause`) is left out. A limit that
    runs out fails the item as
    ItemTimeout ("item took longer than Ns"); a TimeoutError the stage raises by
    itself is its own failure, as it stands.

    Never raises for what the stage did wrong (its own exceptions, even SystemExit,
    a timeout, records or children that could not be stored): that is a failed
    :class:`Executed`. Raises RunHalted and LedgerError (the run must stop, not the
    item) and the run's own cancellation (drain, second Ctrl+C)."""
    started = clock()
    ctx = Context(
        fetch=fetch,
        config=config if config is not None else {},
        run_id=run_id,
        stage=stage.name,
        item=item,
        emits=stage.emits,
        expect=stage.expect,
        refresh=refresh,
    )
    try:
        if timeout and deadlines is not None:
            me = deadlines.arm(timeout)
            expired = False
            try:
                try:
                    result = await stage.fn(ctx, item)
                finally:
                    expired = deadlines.disarm(me)
            except asyncio.CancelledError:
                if not expired:
                    raise  # the run's own (drain, second Ctrl+C), or the stage's
                raise ItemTimeout(f"item took longer than {timeout:g}s") from None
        elif timeout:
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    result = await stage.fn(ctx, item)
            except TimeoutError:
                if not deadline.expired():
                    raise  # the stage's own TimeoutError: its failure as it stands
                raise ItemTimeout(f"item took longer than {timeout:g}s") from None
        else:
            result = await stage.fn(ctx, item)
        taken = take_records(pipeline, result, stage.name, secrets)
        children = [storable_item(c, c.kind or "") for c in ctx.children]
    except (RunHalted, LedgerError):
        raise
    except BaseException as exc:  # a stage's own bug (even sys.exit) fails its item
        if cancelled_by_us(exc):
            raise
        if ctx.unchanged:  # Unchanged itself, or whatever a stage that caught it raised
            return _unchanged(started, clock)
        return failed(exc, started, secrets=secrets, clock=clock, what=(stage.name, item))
    if ctx.unchanged:  # the stage caught Unchanged and returned: nothing it parsed counts
        return _unchanged(started, clock)
    if taken.refused is not None:
        out = failed(taken.refused, started, secrets=secrets, clock=clock, what=(stage.name, item))
        if len(taken.quarantined) > 1:
            out.message += f" (and {len(taken.quarantined) - 1} more records refused)"
        out.quarantined = taken.quarantined
        return out
    return Executed(
        ok=True,
        started=started,
        duration=clock() - started,
        records=taken.rows,
        children=children,
        handed=ctx.handed or None,
        refresh=refresh,
        warnings=taken.warnings,
    )


def _unchanged(started: float, clock: Callable[[], float]) -> Executed:
    return Executed(
        ok=True, started=started, duration=clock() - started, refresh=True, unchanged=True
    )


def failed(
    exc: BaseException,
    started: float,
    *,
    secrets: Sequence[str] = (),
    clock: Callable[[], float] = time.monotonic,
    what: tuple[str, Item] | None = None,
) -> Executed:
    """The failed outcome for ``exc``: its category and redacted one-line message."""
    category, message = describe(exc)
    message = redact(message, secrets)
    if what is not None:
        stage, item = what
        log.debug("%s %s %s failed: %s", item.kind, item.key, stage, message, exc_info=exc)
    return Executed(
        ok=False,
        started=started,
        duration=clock() - started,
        category=category or Category.ERROR,
        message=message,
        error=exc,
    )


def row(pipeline: Pipeline, record: Any) -> RecordRow:
    """A record as the ledger stores it. Raises ValidationError for a record of an
    undeclared table or without its key columns."""
    pk, data = pipeline.encode_record(record)
    return RecordRow(table=record.table, pk=pk, json=data)


@dataclass(slots=True)
class Taken:
    """A stage's records as they came through validation: the rows to store, the
    ``warn`` rules broken, and the records refused (with the first refusal)."""

    rows: list[RecordRow]
    warnings: list[tuple[str, str]]
    quarantined: list[QuarantinedRecord]
    refused: RecordInvalid | None = None


def take_records(pipeline: Pipeline, result: Any, stage: str, secrets: Sequence[str] = ()) -> Taken:
    """What a stage returned, each record validated on the way in
    (:meth:`Pipeline.check_record`): every record is checked, so that every one
    that breaks an ``error`` rule is quarantined, not only the first.

    A stage returns a Record, a list of them, None, or instances of a model that is
    the schema of exactly one table (mixed with Records). Raises ValidationError
    for anything else, for a record of an undeclared table, or one without its key
    (on a table with no schema), as before: the item fails, nothing quarantined."""
    rows: list[RecordRow] = []
    warnings: list[tuple[str, str]] = []
    quarantined: list[QuarantinedRecord] = []
    refused: RecordInvalid | None = None
    check = pipeline.check_record
    for record in records_of(pipeline, result, stage):
        try:
            pk, data, warned = check(record)
        except ValidationError as exc:
            from scrapeline.quality.schema import RecordInvalid

            if not isinstance(exc, RecordInvalid):
                raise
            refused = refused or exc
            quarantined.append(quarantined_record(pipeline, record, exc, secrets))
            continue
        rows.append(RecordRow(table=record.table, pk=pk, json=data))
        if warned:
            warnings.extend((v.table, v.rule) for v in warned)
    return Taken(rows, warnings, quarantined, refused)


def records_of(pipeline: Pipeline, result: Any, stage: str) -> list[Record]:
    """The records a stage returned (see :func:`take_records`), model instances
    given their table."""
    if result is None or isinstance(result, Record):
        return as_records(result, stage)
    one = pipeline.schemas and table_of_model(pipeline, result)
    if one:  # before iterating: a model instance iterates over its fields
        return [Record(one, result)]
    many = (
        list(result)
        if isinstance(result, Iterable) and not isinstance(result, (str, bytes, dict))
        else [result]
    )
    if all(isinstance(r, Record) for r in many):
        return many
    out = []
    for r in many:
        if isinstance(r, Record):
            out.append(r)
            continue
        table = table_of_model(pipeline, r)
        if table is None:
            return as_records(result, stage)  # raises, naming what the stage returned
        out.append(Record(table, r))
    return out


def table_of_model(pipeline: Pipeline, instance: Any) -> str | None:
    """The one table whose schema is ``instance``'s model (or a base of it); None
    when none is, or several are (then it must come as a Record naming its table)."""
    found = [
        name
        for name, schema in pipeline.schemas.items()
        if schema.declared is not None and isinstance(instance, schema.declared)
    ]
    return found[0] if len(found) == 1 else None


def quarantined_record(
    pipeline: Pipeline, record: Record, exc: RecordInvalid, secrets: Sequence[str]
) -> QuarantinedRecord:
    """A refused record as the quarantine keeps it: the record as the stage gave it
    (JSON text; what JSON cannot say, as its text), its key when it has one, the
    rules broken and why, with secrets redacted."""
    data: Any = record.data
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        data = dump(mode="json")
    text = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    pk: str | None = None
    table = pipeline.tables.get(record.table)
    if table is not None and isinstance(data, Mapping):
        values = [data.get(c) for c in table.key]
        if all(v is not None for v in values):
            pk = orjson.dumps(values, default=str).decode()
    errors = [v for v in exc.violations if v.severity == "error"] or list(exc.violations)
    return QuarantinedRecord(
        table=record.table,
        pk=redact(pk, secrets) if pk is not None else None,
        rules=tuple(dict.fromkeys(v.rule for v in errors)),
        reason=redact(str(exc), secrets),
        record=redact(text, secrets),
    )


_KEY_RANGE = range(-(2**63), 2**63)
"""What an int key may be: a SQLite integer. A larger one would be stored as a float."""


def storable_item(item: Item, kind: str, parent: tuple[str, Key] | None = None) -> NewItem:
    """The item as the ledger stores it (``parent`` unless it names its own). Raises
    ValidationError, naming the key and the field, for what the ledger could not
    store: a key past 64 bits, data that is not JSON (a parsed HTML node, Decimal,
    bytes, ...)."""
    if not isinstance(item, Item):
        raise ValidationError(f"discovery must yield Item objects, not {type(item).__name__}")
    if isinstance(item.key, int) and item.key not in _KEY_RANGE:
        raise ValidationError(f"item key {item.key} does not fit in 64 bits: give it as a str")
    try:
        orjson.dumps(item.data)
        orjson.dumps(item.parent)
    except TypeError:
        problem = _json_problem(item.data, "") or _json_problem(item.parent, "parent")
        raise ValidationError(f"item {item.key!r}: {problem}") from None
    if item.date is not None and not isinstance(item.date, str):
        raise ValidationError(f"item {item.key!r}: date must be a str, not {item.date!r}")
    return NewItem(
        kind=item.kind or kind,
        key=item.key,
        data=item.data,
        date=item.date,
        parent=item.parent or parent,
    )


def _json_problem(value: Any, path: str) -> str | None:
    """Where in ``value`` JSON gives up: "field 'teams': LexborNode is not JSON"."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if not isinstance(name, str):
                return f"field {path or '.'!r}: key {name!r} is not a str"
            found = _json_problem(inner, f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            found = _json_problem(inner, f"{path}[{i}]")
            if found:
                return found
        return None
    try:
        orjson.dumps(value)
    except TypeError:
        if isinstance(value, int):
            return f"field {path!r}: {value} does not fit in 64 bits"
        return f"field {path!r}: {type(value).__name__} is not JSON"
    return None


def cancelled_by_us(exc: BaseException) -> bool:
    """Is this the run's own cancellation (drain, second Ctrl+C)?

    A CancelledError the user's code raised by itself, with nobody cancelling the
    task, is the user's failure like any other exception."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    me = asyncio.current_task()
    return me is None or me.cancelling() > 0


def describe(exc: BaseException) -> tuple[str, str]:
    """Category and one-line message for anything a stage or discovery raised; never
    raises itself (an exception whose ``str`` fails is still reported)."""
    try:
        category, message = categorize(exc)
        if isinstance(exc, ItemError) and exc.attempts:
            message = str(exc)
    except Exception:
        return Category.ERROR, type(exc).__name__
    return category, message
