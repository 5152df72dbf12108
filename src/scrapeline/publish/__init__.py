"""Publishing: versioned, checked Parquet snapshots of a pipeline's tables.

- :mod:`~scrapeline.publish.columns` — declared types → Parquet types, the columns
  of a table without a schema, records → typed Arrow batches;
- :mod:`~scrapeline.publish.tables` — a table streamed to one Parquet file;
- :mod:`~scrapeline.publish.duck` — DuckDB views for the rules, ``dataset.duckdb``, CSV;
- :mod:`~scrapeline.publish.manifest` — ``manifest.json``;
- :mod:`~scrapeline.publish.snapshots` — the ``published/`` layout, ``latest``,
  retention;
- :mod:`~scrapeline.publish.files` — owner-only, durable files.

The composition (read the ledger, write, check, move ``latest``) is
:mod:`scrapeline.workspace.publish`.
"""
