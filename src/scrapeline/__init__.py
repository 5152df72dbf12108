"""scrapeline: durable, resumable scraping pipelines."""
