"""KPI calculators: each module computes one or a few KPIs with SQL aggregation and registers
them in `base.REGISTRY`; `metrics.snapshots` runs them over periods into KpiSnapshot rows."""
