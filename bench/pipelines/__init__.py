"""Pipeline files the benchmarks hand to ``scrapeline run`` (loaded by path)."""
