"""Benchmark suites shipped with pytest-genopt (each may need optional extras)."""
