"""The tasks a run has claimed and not started, handed out deepest work first. Pure.

The ledger claims in the pipeline's claim order, a batch at a time; meanwhile a
listing or a stage may add deeper work (an event's details while the next season's
listing waits in the batch). Handing tasks out by the same order, not first come
first served, keeps the run depth first across batches::

    >>> from scrapeline.ledger.base import Task
    >>> def task(i, stage):
    ...     return Task(id=i, stage=stage, kind="k", key=i, data={}, date=None,
    ...                 parent=None, attempts=1)
    >>> claimed = Claimed(("detail", "events"))
    >>> claimed.extend([task(1, "events"), task(2, "events")])
    >>> claimed.extend([task(3, "detail")])
    >>> [claimed.popleft().id for _ in range(len(claimed))]
    [3, 1, 2]
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence

from scrapeline.ledger.base import Task


class Claimed:
    """Claimed tasks by (place of their stage in ``order``, arrival): stages ``order``
    does not name come after those it does. Not thread-safe: the loop's thread only."""

    __slots__ = ("_heap", "_rank", "_seq")

    def __init__(self, order: Sequence[str] = ()) -> None:
        self._rank = {stage: n for n, stage in enumerate(order)}
        self._heap: list[tuple[int, int, Task]] = []
        self._seq = itertools.count()

    def extend(self, tasks: Iterable[Task]) -> None:
        last = len(self._rank)
        for task in tasks:
            heapq.heappush(self._heap, (self._rank.get(task.stage, last), next(self._seq), task))

    def popleft(self) -> Task:
        """The next task to start; IndexError when there is none."""
        return heapq.heappop(self._heap)[2]

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[Task]:
        return (entry[2] for entry in self._heap)
