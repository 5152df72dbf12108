"""Pure decisions the runner takes as outcomes arrive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ConsecutiveFailures:
    """Stop the run after ``limit`` item failures in a row across the whole pipeline.

    Isolated failures do not stop a run; a streak does, because it usually means
    the site banned us or went down. ``limit`` 0 turns the check off.

    >>> policy = ConsecutiveFailures(limit=2)
    >>> policy.record(ok=False), policy.record(ok=True), policy.record(ok=False)
    (None, None, None)
    >>> policy.record(ok=False)
    '2 consecutive failures: likely banned or site down'
    """

    limit: int
    streak: int = 0

    def record(self, *, ok: bool) -> str | None:
        """Count one outcome; return the reason to halt, or None to go on."""
        self.streak = 0 if ok else self.streak + 1
        if self.limit and self.streak >= self.limit:
            return f"{self.streak} consecutive failures: likely banned or site down"
        return None


def claim_size(workers: int) -> int:
    """How many tasks to lease at once: enough to keep workers busy, few enough to
    leave work for other machines and to release quickly on interrupt."""
    return max(128, min(64 * workers, 1024))
