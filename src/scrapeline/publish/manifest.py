"""A snapshot's ``manifest.json``: what it holds, where each row came from, which
rules it passed, and a checksum of every file, so a reader can tell a snapshot is
whole and what produced it.

::

    {"format": 1, "snapshot": "20260301T060000Z", "pipeline": "football",
     "created_at": "2026-03-01T06:00:00+00:00",
     "tables": {"matches": {"file": "matches.parquet", "rows": 300, "key": ["match_id"],
                            "columns": [{"name": "match_id", "type": "int",
                                         "nullable": false, "parquet": "int64"}, ...],
                            "sha256": "...", "derived": false, "runs": [1, 2],
                            "parser_versions": {"overview": [1]}}},
     "rules": [{"table": ..., "rule": ..., "severity": ..., "passed": ..., ...}],
     "source_runs": [1, 2], "tasks_done": {"overview": 300},
     "files": {"matches.parquet": "<sha256>", ...}}

``tasks_done`` counts the done tasks per stage in the same read as the records:
the ledger's state the snapshot is a copy of. ``files`` lists every file but the
manifest itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from scrapeline.publish.files import new_file, sha256_of
from scrapeline.publish.snapshots import MANIFEST
from scrapeline.publish.tables import TableFile

FORMAT = 1


def build(
    *,
    snapshot: str,
    pipeline: str,
    created_at: datetime,
    tables: Sequence[TableFile],
    rules: Sequence[Mapping[str, Any]],
    tasks_done: Mapping[str, int],
    directory: Path,
) -> dict[str, Any]:
    """The manifest of the snapshot being written in ``directory`` (its files hashed)."""
    runs = sorted({r for t in tables for r in t.runs})
    files = {
        p.name: sha256_of(p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    return {
        "format": FORMAT,
        "snapshot": snapshot,
        "pipeline": pipeline,
        "created_at": created_at.isoformat(timespec="seconds"),
        "tables": {t.name: t.manifest() for t in tables},
        "rules": [dict(r) for r in rules],
        "source_runs": runs,
        "tasks_done": dict(tasks_done),
        "files": files,
    }


def write(directory: Path, document: Mapping[str, Any]) -> Path:
    path = directory / MANIFEST
    with new_file(path) as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str) + b"\n")
    return path


@dataclass(frozen=True, kw_only=True)
class SnapshotInfo:
    """A published snapshot, as ``scrapeline snapshots`` lists it."""

    id: str
    created_at: str
    tables: dict[str, int]
    """Rows per table."""
    latest: bool

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @classmethod
    def of(cls, document: Mapping[str, Any], *, latest: bool) -> SnapshotInfo:
        return cls(
            id=str(document["snapshot"]),
            created_at=str(document["created_at"]),
            tables={name: int(t["rows"]) for name, t in document["tables"].items()},
            latest=latest,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "tables": self.tables,
            "rows": self.rows,
            "latest": self.latest,
        }
