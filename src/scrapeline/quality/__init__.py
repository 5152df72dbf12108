"""Data quality: table schemas and record rules (on the way in), table rules and
derived tables (over a consistent copy of the tables, in DuckDB)."""
