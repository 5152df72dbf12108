"""scrapeline's benchmark harness (not shipped). Run ``python -m bench --help``."""
