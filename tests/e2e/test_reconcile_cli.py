"""The prospects example through the CLI: the three sources of the rehearsal site
scraped, validated and published with the reconciliation; the published entities,
``scrapeline conflicts``, ``scrapeline unresolved`` and ``scrapeline quarantine``
against the site's truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from scrapeline.testing import ProspectsSite, serve_in_thread
from scrapeline.testing.draft_truth import Truth
from tests.e2e.conftest import scrapeline

PIPE = "scrapeline.demo.prospects"
TABLE_OF = {
    "combine": "combine_players",
    "college_stats": "college_stats",
    "injury_report": "injury_report",
}
FIELDS = (
    "college", "position", "height_in", "weight_lb", "forty", "games", "yards", "touchdowns",
    "injury_status",
)  # fmt: skip


def records_of(sources: str) -> frozenset[tuple[str, str]]:
    return frozenset((s, str(k)) for s, k in orjson.loads(sources).items())


def test_the_example_publishes_its_reconciliation_as_the_truth_says(tmp_path: Path) -> None:
    site = ProspectsSite(size=300, latency=None)
    data = tmp_path / "data"
    common = ("--data-dir", str(data))
    with serve_in_thread(site) as url:
        done = scrapeline(
            "run", PIPE, "--base-url", url, *common, "--max-consecutive-failures", "0",
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the rule breakers failed
    truth: Truth = site.truth

    nothing = scrapeline("conflicts", PIPE, *common)
    assert nothing.returncode == 2 and "nothing published" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1

    checked = scrapeline("validate", PIPE, *common, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = orjson.loads(checked.stdout)["rules"]
    assert {r["rule"] for r in rules if r["table"] == "prospects"} == {
        "unique(prospect_id)",
        "not_null(name, college)",
    }
    published = scrapeline("publish", PIPE, *common, "--json")
    assert published.returncode == 0, published.stdout + published.stderr
    tables = orjson.loads(published.stdout)["tables"]
    assert {"prospects", "prospects_conflicts", "prospects_unresolved"} <= set(tables)

    # the quarantine: exactly the truth's, rule for rule; none of them in an entity
    held = orjson.loads(scrapeline("quarantine", PIPE, *common, "--json").stdout)["records"]
    assert sorted((r["table"], str(r["key"][0]), tuple(r["rules"])) for r in held) == sorted(
        (TABLE_OF[q.source], q.key, (q.rule,)) for q in truth.quarantined
    )
    latest = data / "published" / "latest"
    entities = pq.read_table(latest / "prospects.parquet").to_pylist()
    used = {r for e in entities for r in records_of(e["sources"])}
    assert not used & {(q.source, q.key) for q in truth.quarantined}

    # the entities whose records are the truth's: every value and every conflict exact
    by_records = {records_of(e["sources"]): e for e in entities}
    truth_ids: dict[str, str] = {}
    agreed = 0
    for expected in truth.entities:
        entity = by_records.get(frozenset(expected.records))
        if entity is None:
            continue
        agreed += 1
        truth_ids[entity["prospect_id"]] = expected.id
        for name in FIELDS:
            assert entity[name] == getattr(expected, name), (expected.id, name)
        updated = entity["injury_updated"]
        assert (updated and updated.isoformat()) == expected.injury_updated
    assert agreed >= 0.97 * len(truth.entities)

    listed = orjson.loads(scrapeline("conflicts", PIPE, *common, "--json").stdout)
    assert len(listed) == tables["prospects_conflicts"]
    found = {(truth_ids[c["entity"]], c["field"]): c for c in listed if c["entity"] in truth_ids}
    for conflict in truth.conflicts:
        if conflict.entity not in truth_ids.values():
            continue
        got = found.pop((conflict.entity, conflict.field))
        assert got["values"] == dict(conflict.values)
        assert got["winner"] == conflict.value
    assert found == {}  # no conflict the truth does not have
    one = listed[0]
    only = orjson.loads(
        scrapeline("conflicts", PIPE, *common, "--json", "--field", one["field"],
                   "--entity", one["entity"]).stdout
    )  # fmt: skip
    assert only == [one]
    text = scrapeline("conflicts", PIPE, *common, "--field", "weight_lb")
    assert text.returncode == 0 and "weight_lb" in text.stdout
    assert text.stdout.strip().endswith("conflicts")

    # unresolved: every line the truth leaves unresolved is unresolved; where the engine
    # names candidates the truth has, the reason and the candidates are the truth's
    rows: list[dict[str, Any]] = orjson.loads(
        scrapeline("unresolved", PIPE, *common, "--json").stdout
    )
    assert len(rows) == tables["prospects_unresolved"]
    keys = {(r["source"], r["key"]): r for r in rows}
    for u in truth.unresolved:
        row = keys[(u.source, u.key)]
        if not row["candidates"] or not all(c in truth_ids for c in row["candidates"]):
            continue
        assert row["reason"] == u.reason, u
        assert tuple(sorted(truth_ids[c] for c in row["candidates"])) == u.candidates, u
    shown = scrapeline("unresolved", PIPE, *common)
    assert shown.returncode == 0 and "unresolved record" in shown.stdout
