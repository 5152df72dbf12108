"""Small pure arithmetic for reporters: percentiles, human durations, time left.

>>> percentile([1.0, 2.0, 3.0, 4.0], 50)
2.5
>>> format_duration(192)
'3m12s'
>>> eta(done=100, total=400, elapsed=60.0)
180.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (``q`` in percent, 0 to 100).

    Linear interpolation between the two nearest ranks, as numpy's default
    ("linear") and spreadsheets' PERCENTILE.INC: with the values sorted and
    ``h = (n - 1) * q / 100``, the result lies between ``sorted[floor(h)]``
    and ``sorted[ceil(h)]``. So ``q=0`` is the minimum, ``q=100`` the maximum
    and ``q=50`` the median. The input need not be sorted.

    Returns 0.0 for no values. Raises ValueError if ``q`` is outside 0..100.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be between 0 and 100, got {q}")
    if not values:
        return 0.0
    ordered = sorted(values)
    h = (len(ordered) - 1) * q / 100.0
    low = math.floor(h)
    high = math.ceil(h)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (h - low))


def format_duration(seconds: float) -> str:
    """A short human duration: "0.3s", "4.2s", "3m12s", "1h05m".

    Under a minute, tenths of a second; under an hour, minutes and whole
    seconds; from an hour on, hours and whole minutes (rounded). Negative
    values and NaN read as zero; infinity reads "∞".
    """
    if not seconds > 0.0:
        return "0.0s"
    if math.isinf(seconds):
        return "∞"
    if round(seconds, 1) < 60.0:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(round(seconds / 60.0), 60)
    return f"{hours}h{minutes:02d}m"


def eta(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the average rate so far (``done`` in ``elapsed`` seconds).

    ``None`` when no rate is known yet (nothing done, or no time elapsed);
    0.0 when nothing is left (``done >= total``).
    """
    if done >= total:
        return 0.0
    if done <= 0 or elapsed <= 0.0:
        return None
    return (total - done) * elapsed / done
