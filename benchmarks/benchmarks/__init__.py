"""asv benchmarks of the Holstein toolkit, one module per area."""
