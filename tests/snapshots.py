"""A published snapshot written the way ``publish`` lays it out, for tests that read
one: ``DATA_DIR/published/<id>/`` with a Parquet file per table and manifest.json,
and ``latest`` linking to it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TYPES = {pa.string(): "str", pa.int64(): "int", pa.date32(): "date", pa.float64(): "float"}


def write_snapshot(
    data_dir: Path,
    snapshot: str,
    *,
    created_at: datetime,
    tables: Mapping[str, Mapping[str, Sequence[object]]],
    pipeline: str = "football",
) -> Path:
    """Write snapshot ``snapshot`` of ``tables`` (columns by name) and point ``latest``
    at it. Returns its directory."""
    folder = data_dir / "published" / snapshot
    folder.mkdir(parents=True, mode=0o700)
    listed = {}
    for name, columns in tables.items():
        table = pa.table({column: list(values) for column, values in columns.items()})
        pq.write_table(table, folder / f"{name}.parquet")
        listed[name] = {
            "file": f"{name}.parquet",
            "rows": table.num_rows,
            "columns": [
                {"name": f.name, "type": TYPES.get(f.type, "str"), "nullable": f.nullable}
                for f in table.schema
            ],
        }
    manifest = {
        "format": 1,
        "snapshot": snapshot,
        "pipeline": pipeline,
        "created_at": created_at.isoformat(),
        "tables": listed,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    latest = data_dir / "published" / "latest"
    if latest.is_symlink():
        latest.unlink()
    os.symlink(snapshot, latest)
    return folder
