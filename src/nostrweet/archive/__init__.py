"""X → cache orchestration: fetch, enrich, download media, cache profiles."""
