from __future__ import annotations

import math

import pytest

from scrapeline.observe.stats import eta, format_duration, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, 0.0),
        ([], 95, 0.0),
        ([7.0], 0, 7.0),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # unsorted input
        ([1.0, 2.0, 3.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 25, 2.0),
        ([10.0, 20.0], 95, 19.5),
        ([float(i) for i in range(1, 101)], 95, 95.05),
        ([0.3, 0.3, 0.3], 95, 0.3),
    ],
)
def test_percentile_interpolates_linearly(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [-1, 100.5, 950])
def test_percentile_rejects_q_outside_0_100(q: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0, 2.0], q)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, "0.0s"),
        (-3.0, "0.0s"),
        (math.nan, "0.0s"),
        (math.inf, "∞"),
        (0.04, "0.0s"),
        (0.3, "0.3s"),
        (4.2, "4.2s"),
        (59.9, "59.9s"),
        (59.96, "1m00s"),
        (60.0, "1m00s"),
        (65.0, "1m05s"),
        (192.0, "3m12s"),
        (192.4, "3m12s"),
        (3599.0, "59m59s"),
        (3599.6, "1h00m"),
        (3600.0, "1h00m"),
        (3900.0, "1h05m"),
        (3929.0, "1h05m"),
        (3931.0, "1h06m"),
        (36000.0, "10h00m"),
        (90000.0, "25h00m"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "expected"),
    [
        (0, 100, 10.0, None),  # no rate yet
        (10, 100, 0.0, None),  # no time yet
        (10, 100, 10.0, 90.0),
        (100, 400, 60.0, 180.0),
        (1, 2, 4.2, 4.2),
        (100, 100, 60.0, 0.0),  # finished
        (120, 100, 60.0, 0.0),  # total lagging behind
        (0, 0, 0.0, 0.0),
    ],
)
def test_eta(done: int, total: int, elapsed: float, expected: float | None) -> None:
    result = eta(done, total, elapsed)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)
