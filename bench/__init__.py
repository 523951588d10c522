"""Load and throughput benchmarks (see README.md)."""
