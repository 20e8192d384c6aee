"""twitter package."""
