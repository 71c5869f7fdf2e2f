"""The arithmetic of the KPIs on aggregated counts: plain Python, no ORM, pinned by tests
with hand-computed values (docs/metrics.md gives every formula)."""
