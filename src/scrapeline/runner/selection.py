"""Which stages a run works on: ``--only-stage`` and ``--skip-stage``. Pure.

A run claims tasks only of the stages (and listings per parent item) it selects.
The others' tasks are left as they are: pending stays pending, never failed nor
done, and a later stage that depends on a skipped one waits with them, since its
item's dependency is not done. The next run without the selection does them::

    >>> names = ("overview", "half_stats", "events")
    >>> selected_stages(names, skip=("half_stats",), pipeline="football")
    ('overview', 'events')
    >>> selected_stages(names, only=("overview", "half_stats"), skip=("overview",),
    ...                 pipeline="football")
    ('half_stats',)
    >>> selected_stages(names, pipeline="football") is None  # every stage
    True
    >>> selected_stages(names, skip=("stats",), pipeline="football")
    Traceback (most recent call last):
    ...
    scrapeline.errors.ConfigError: skip_stages: unknown stage 'stats': pipeline 'football' ...
"""

from __future__ import annotations

from collections.abc import Sequence

from scrapeline.errors import ConfigError

__all__ = ["selected_stages"]


def selected_stages(
    names: Sequence[str],
    *,
    only: Sequence[str] | None = None,
    skip: Sequence[str] = (),
    pipeline: str,
) -> tuple[str, ...] | None:
    """The stages of ``names`` a run claims work of, in their order: those of ``only``
    (every one when None) that ``skip`` does not name; None when that is all of them.

    Raises ConfigError naming the pipeline's stages when ``only`` or ``skip`` names
    one it does not have. Skipping every stage is allowed: the run only discovers."""
    for setting, chosen in (("stages", only or ()), ("skip_stages", skip)):
        for name in chosen:
            if name not in names:
                raise ConfigError(
                    f"{setting}: unknown stage {name!r}: pipeline {pipeline!r} has "
                    f"{', '.join(names) or 'no stages'}"
                )
    if not skip:
        return None if only is None else tuple(only)
    kept = names if only is None else only
    return tuple(name for name in kept if name not in skip)
