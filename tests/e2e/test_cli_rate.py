"""``--rate``: a rate that cannot work is refused before anything is written."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .conftest import scrapeline

PIPELINE = textwrap.dedent(
    """
    from scrapeline import Context, Item, Pipeline

    pipe = Pipeline("rated", base_url="http://127.0.0.1:9")


    @pipe.discover("page")
    async def listing(ctx: Context, offset: int):
        yield Item(key=offset)


    @pipe.stage("get", on="page")
    async def get(ctx: Context, item: Item) -> None:
        await ctx.fetch(f"/pages/{item.key}")
    """
)


def test_a_rate_that_cannot_work_is_a_usage_error(tmp_path: Path) -> None:
    pipeline = tmp_path / "rated.py"
    pipeline.write_text(PIPELINE)
    done = scrapeline("run", str(pipeline), "--data-dir", str(tmp_path / "d"), "--rate", "fast")
    assert done.returncode == 2, done
    assert "--rate: invalid rate 'fast'" in done.stdout + done.stderr
    assert not (tmp_path / "d").exists()


def test_help_lists_the_rate_option() -> None:
    done = scrapeline("run", "--help")
    assert done.returncode == 0 and "--rate" in done.stdout
