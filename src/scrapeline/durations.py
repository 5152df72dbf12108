"""Durations as people write them: ``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"``, ``"2w"``. Pure.

>>> parse_duration("7d")
604800.0
"""

from __future__ import annotations

import re

from scrapeline.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"`` or ``"2w"``; ConfigError otherwise.

    >>> parse_duration("30d"), parse_duration("1.5h")
    (2592000.0, 5400.0)
    """
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ConfigError(
            f"invalid duration {text!r}: expected a number and a unit, "
            "e.g. 30d, 12h, 90m, 3600s or 2w"
        )
    return float(found.group(1)) * _UNITS[found.group(2).lower()]
