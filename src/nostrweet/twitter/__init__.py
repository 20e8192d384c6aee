"""The X API v2: typed models, reference parsing, rate budgets and the async client."""
