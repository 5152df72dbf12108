"""The values every layer shares: items, records, tables and the stage graph. Pure.

The ledger, the runner, the events and :class:`~scrapeline.context.Context` import
these, never :mod:`scrapeline.pipeline`, which holds the declarations and builds a
:class:`Graph` from them.

    >>> Item(key=7, kind="match", data={"home": "Arsenal"}).kind
    'match'
    >>> Table("matches", ("match_id",)).primary_key({"match_id": 7})
    '7'
    >>> Item(key=1.5)
    Traceback (most recent call last):
    ...
    scrapeline.errors.ValidationError: item key must be a str or int, got 1.5
    >>> FailurePolicy.named("fail-fast")
    <FailurePolicy.FAIL_FAST: 'fail-fast'>
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from scrapeline.errors import ConfigError, ValidationError

Key: TypeAlias = str | int
"""An item's key: a string or an integer, unique within its kind."""


class FailurePolicy(StrEnum):
    """What a run does when an item of a stage fails (after its retries)."""

    CONTINUE = "continue"
    """Go on with the other items; the run exits 1 at its end."""
    FAIL_FAST = "fail-fast"
    """Stop the run at the first failed item: nothing more is claimed, in-flight
    items finish, and the run ends halted (exit 3) naming the stage and the item."""
    RETRY_AT_END = "retry-at-end"
    """Give the failed items one more pass once everything else is done, after a
    pause; those that fail again stay failed (exit 1)."""

    @classmethod
    def named(cls, name: str, where: str = "failure_policy") -> FailurePolicy:
        """The policy called ``name``; ConfigError (one line, naming the valid ones)
        for any other value. ``where`` says which setting held it."""
        try:
            return cls(name)
        except ValueError:
            valid = ", ".join(p.value for p in cls)
            raise ConfigError(f"{where}={name!r} is not a failure policy: use {valid}") from None


@dataclass(frozen=True, slots=True)
class Item:
    """A unit of work with a stable key.

    ``kind`` may be left out where it is implied: by the discovery that yields
    the item, or by the ``emits`` of the stage that emits it.
    """

    key: Key
    kind: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    date: str | None = None
    parent: tuple[str, Key] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.key, bool) or not isinstance(self.key, (str, int)):
            raise ValidationError(f"item key must be a str or int, got {self.key!r}")


@dataclass(frozen=True, slots=True)
class Record:
    """A row of output data for a declared table, upserted by the table's key."""

    table: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: tuple[str, ...]

    def primary_key(self, data: dict[str, Any]) -> str:
        """The row's key as text; raises ValidationError when a key column is missing."""
        if len(self.key) == 1:  # the usual key, on every record's way in: no loops
            value = data.get(self.key[0]) if isinstance(data, dict) else None
            if value is not None:
                return str(value)
        try:
            values = [data[c] for c in self.key]
        except KeyError as exc:
            raise ValidationError(
                f"record for table {self.name!r} has no key column {exc.args[0]!r}"
            ) from None
        if any(v is None for v in values):
            raise ValidationError(f"record for table {self.name!r} has an empty key {values!r}")
        return "\x1f".join(str(v) for v in values)


@dataclass(frozen=True, slots=True)
class Dependency:
    stage: str
    same_item: bool
    """True: the same item's stage. False: the stage of an ancestor of that kind."""
    kind: str


@dataclass(frozen=True, slots=True)
class StageNode:
    name: str
    kind: str
    deps: tuple[Dependency, ...]


@dataclass(frozen=True, slots=True)
class Graph:
    """What the ledger needs to know of a pipeline: stages, kinds, dependencies."""

    stages: dict[str, StageNode]
    claim_order: tuple[str, ...] = ()
    """Stage names in the order their pending tasks are claimed (depth first); the
    ledger claims any other stage after these."""
    # answers remembered: the ledger asks for every task it settles
    _of_kind: dict[str, list[StageNode]] = field(default_factory=dict, repr=False, compare=False)
    _after: dict[str, list[StageNode]] = field(default_factory=dict, repr=False, compare=False)

    def stages_of(self, kind: str) -> list[StageNode]:
        found = self._of_kind.get(kind)
        if found is None:
            found = self._of_kind[kind] = [s for s in self.stages.values() if s.kind == kind]
        return found

    def dependents(self, stage: str) -> list[StageNode]:
        found = self._after.get(stage)
        if found is None:
            found = self._after[stage] = [
                s for s in self.stages.values() if any(d.stage == stage for d in s.deps)
            ]
        return found
