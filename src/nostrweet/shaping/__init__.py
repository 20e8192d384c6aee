"""Shaping the mirror (SPEC §12): which tweets are published (filters) and how their images are sent."""
