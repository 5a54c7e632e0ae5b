"""Side-by-side speed measurements of T2L adapter generation (see docs/speed.md); run `python -m benchmarks.run`."""
