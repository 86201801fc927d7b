"""Benchmarks run against the local stack (not tests: they print figures, assert nothing)."""
