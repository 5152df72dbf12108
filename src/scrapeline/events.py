"""Typed events of a run. The runner and the fetch layer emit them; reporters subscribe,
and neither emitter knows who listens.

A subscriber is any callable taking an :data:`Event`. It must be quick and must not
raise (an exception from a subscriber is logged and the subscriber is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from scrapeline.fetch.events import FetchEvent
from scrapeline.ledger.base import RunReport
from scrapeline.model import Key


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted:
    run_id: int
    pipeline: str
    data_dir: str
    options: Mapping[str, Any]
    log_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PageDiscovered:
    discovery: str
    position: int
    keys: int
    new: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryFinished:
    discovery: str
    pages: int
    new: int
    reason: str
    """Why the walk stopped: "known page", "end of listing", "end offset", "interrupted"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkQueued:
    """How many tasks are left to settle: the progress bar's total grows with it."""

    remaining: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDone:
    stage: str
    kind: str
    key: Key
    duration: float
    records: int
    children: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed:
    stage: str
    kind: str
    key: Key
    duration: float
    category: str
    message: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested:
    """A signal arrived. ``forced`` on the second: in-flight work is cancelled."""

    signal: str
    forced: bool
    in_flight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunHalted:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished:
    status: str
    exit_code: int
    report: RunReport
    reason: str | None
    wall: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A message for humans from the engine (not an item outcome)."""

    level: int
    message: str


RunEvent: TypeAlias = (
    RunStarted
    | PageDiscovered
    | DiscoveryFinished
    | WorkQueued
    | TaskDone
    | TaskFailed
    | ShutdownRequested
    | RunHalted
    | RunFinished
    | Log
)

Event: TypeAlias = RunEvent | FetchEvent
"""Everything a subscriber may be handed: what the run did and what the fetch layer saw."""
