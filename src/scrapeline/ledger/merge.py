"""An item found again is merged into the one the ledger holds, never clobbered: the rules.

A listing shows an item on two pages, a stage emits a child that a listing found
too, a refresh lists a corrected score: every backend merges the new data into the
stored data with :func:`merge_data` and reports each value it changed.

    >>> merged, changed = merge_data(
    ...     {"score": "1-0", "home": "Arsenal"}, {"score": "2-1", "home": None, "round": 3}
    ... )
    >>> merged
    {'score': '2-1', 'home': 'Arsenal', 'round': 3}
    >>> changed
    [('score', '1-0', '2-1')]
    >>> merge_data({"score": "1-0"}, {"score": "1-0"})
    (None, [])

Rules, per top-level key of the item's data
    * a key the stored data lack (or hold as None) is added: filling in, not a change;
    * a key whose value differs takes the new value: a change (field, old, new);
    * a key given as None never erases a known value;
    * values compare as JSON: ``1``, ``1.0``, ``"1"`` and ``true`` all differ, key
      order inside an object does not matter; a nested object is one value.

The item's date and parent are the ledger's (a date given replaces the stored
one, a parent once set is kept); they are not part of the data merged here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from scrapeline.ledger.base import ItemChange

log = logging.getLogger("scrapeline.ledger")

CHANGES_LOGGED = 5
"""Changes of one batch logged a line each; the rest are counted in one more line,
so a big correction cannot flood the log."""
_SHOWN_CHARS = 80
_SCALARS = (str, int, float, bool)


def merge_data(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[tuple[str, Any, Any]]]:
    """``new`` merged into ``old``, by the rules above: the merged data, or None when
    they change nothing (no write needed), and the changes as (field, old, new).
    Neither argument is changed."""
    merged: dict[str, Any] | None = None
    changed: list[tuple[str, Any, Any]] = []
    for name, value in new.items():
        if value is None:
            continue
        before = old.get(name)
        if before is not None:
            if same(before, value):
                continue
            changed.append((name, before, value))
        if merged is None:
            merged = dict(old)
        merged[name] = value
    return merged, changed


def same(a: Any, b: Any) -> bool:
    """Whether two values are the same JSON.

    >>> same(1, 1.0), same(1, True), same({"a": 1, "b": [2]}, {"b": (2,), "a": 1})
    (False, False, True)
    """
    if type(a) is type(b) and isinstance(a, _SCALARS):
        return bool(a == b)
    return _json(a) == _json(b)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def change_lines(changes: Sequence[ItemChange], shown: int = CHANGES_LOGGED) -> list[str]:
    """What the log says of a batch's changes: a line for each of the first
    ``shown``, then one line counting the rest.

    >>> change_lines([ItemChange(run_id=3, kind="match", key=42, field="score",
    ...                          old="1-0", new="2-1")])
    ['item match 42: score changed from "1-0" to "2-1" (run 3)']
    >>> many = [ItemChange(run_id=3, kind="match", key=k, field="rank", old=1, new=2)
    ...         for k in range(8)]
    >>> change_lines(many, shown=2)[-1]
    '… and 6 more item value changes (run 3)'
    """
    lines = [
        f"item {c.kind} {c.key}: {c.field} changed from {_shown(c.old)} to {_shown(c.new)} "
        f"(run {c.run_id})"
        for c in changes[:shown]
    ]
    rest = len(changes) - shown
    if rest > 0:
        noun = "change" if rest == 1 else "changes"
        lines.append(f"… and {rest} more item value {noun} (run {changes[-1].run_id})")
    return lines


def log_changes(changes: Sequence[ItemChange]) -> None:
    """Log a committed batch's changes at INFO, as :func:`change_lines` words them."""
    if changes and log.isEnabledFor(logging.INFO):
        for line in change_lines(changes):
            log.info("%s", line)


def _shown(value: Any) -> str:
    """A value as JSON text, cut to a line's worth."""
    text = orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
