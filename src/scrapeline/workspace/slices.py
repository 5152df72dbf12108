"""The slice of items a backfill redoes, as its flags give it. Pure.

    >>> parse_offsets("0:200"), parse_dates("2024-05-01:2024-05-31")
    ((0, 200), ('2024-05-01', '2024-05-31'))
    >>> parse_keys("match:1,2,3")
    (('match', '1'), ('match', '2'), ('match', '3'))
    >>> keys_file_lines(["# re-done after the fix", "match:1", "", "half:1-2"])
    (('match', '1'), ('half', '1-2'))
    >>> parse_dates("2024-05-31:2024-05-01")
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: --dates 2024-05-31:2024-05-01: the range ends before it begins

Keys stay text here: whether "1" is the integer key 1 is the ledger's to tell
(:func:`~scrapeline.workspace.backfill.resolve_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from scrapeline.errors import ConfigError

__all__ = [
    "Slice",
    "keys_file_lines",
    "parse_dates",
    "parse_keys",
    "parse_offsets",
]

ItemText = tuple[str, str]
"""An item as typed: (kind, key text)."""


@dataclass(frozen=True, kw_only=True)
class Slice:
    """What a backfill redoes: the items it names, and the stages (none: every one).

    The items are the union of what each part names. ``offsets`` re-walks that range
    of the top-level listings and takes the items it yields; it goes alone."""

    offsets: tuple[int, int] | None = None
    dates: tuple[str, str] | None = None
    keys: tuple[ItemText, ...] = ()
    """``--keys`` and ``--keys-file``, as typed."""
    only: tuple[ItemText, ...] = ()
    """``--only KIND:KEY``: the item and its descendants (as every part is)."""
    stages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.offsets is None and self.dates is None and not self.keys and not self.only:
            raise ConfigError(
                "backfill needs a slice: --offsets A:B, --dates FROM:TO, --keys KIND:K1,K2, "
                "--keys-file FILE or --only KIND:KEY"
            )
        if self.offsets is not None and (self.dates is not None or self.keys or self.only):
            raise ConfigError(
                "--offsets re-walks the listing and redoes what it yields: it goes alone, "
                "not with --dates, --keys, --keys-file or --only"
            )
        if self.offsets is not None and self.stages:
            # the walk puts every task of each item it finds back to pending: a run of
            # some stages would leave the others pending for the next run
            raise ConfigError(
                "--offsets redoes every stage of the items it finds: --stage goes with "
                "--dates, --keys, --keys-file or --only"
            )

    def describe(self) -> str:
        """The slice in words, for the run's first log line."""
        parts = []
        if self.offsets is not None:
            parts.append(f"offsets {self.offsets[0]} to {self.offsets[1]}")
        if self.dates is not None:
            parts.append(f"dated {self.dates[0]} to {self.dates[1]}")
        if self.keys:
            parts.append(f"{len(self.keys)} key{'s' if len(self.keys) != 1 else ''}")
        parts += [f"{kind} {key} and its descendants" for kind, key in self.only]
        return ", ".join(parts)


def _pair(flag: str, text: str) -> tuple[str, str]:
    low, colon, high = text.partition(":")
    if not colon or not low.strip() or not high.strip():
        raise ConfigError(f"{flag} {text}: expected FROM:TO")
    return low.strip(), high.strip()


def parse_offsets(text: str) -> tuple[int, int]:
    """``--offsets A:B``: the first and the last offset walked (that page included).
    Raises ConfigError for anything but two offsets >= 0 in order."""
    low, high = _pair("--offsets", text)
    if not (low.isdigit() and high.isdigit()):
        raise ConfigError(f"--offsets {text}: offsets are whole numbers >= 0, e.g. 0:200")
    start, end = int(low), int(high)
    if end < start:
        raise ConfigError(f"--offsets {text}: the range ends before it begins")
    return start, end


def parse_dates(text: str) -> tuple[str, str]:
    """``--dates FROM:TO``: ISO dates, both included. Raises ConfigError for a date
    that is not one (``2024-02-30``) or a range that ends before it begins."""
    low, high = _pair("--dates", text)
    for value in (low, high):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ConfigError(
                f"--dates {text}: {value!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
    if high < low:
        raise ConfigError(f"--dates {text}: the range ends before it begins")
    return low, high


def parse_keys(text: str, flag: str = "--keys") -> tuple[ItemText, ...]:
    """``--keys KIND:K1,K2,...``: one kind, its keys. Raises ConfigError for no kind or
    no key."""
    kind, colon, rest = text.partition(":")
    keys = [k.strip() for k in rest.split(",")] if colon else []
    if not kind.strip() or not keys or not all(keys):
        raise ConfigError(f"{flag} {text}: expected KIND:KEY1,KEY2,... e.g. match:1,2")
    return tuple((kind.strip(), key) for key in keys)


def keys_file_lines(lines: Iterable[str], source: str = "--keys-file") -> tuple[ItemText, ...]:
    """The items of a ``--keys-file``: one ``KIND:KEY`` a line; blank lines and lines
    starting with ``#`` are skipped. Raises ConfigError naming the first bad line."""
    found: list[ItemText] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, colon, key = line.partition(":")
        if not colon or not kind.strip() or not key.strip():
            raise ConfigError(f"{source}:{number}: expected KIND:KEY, got {line!r}")
        found.append((kind.strip(), key.strip()))
    return tuple(found)
