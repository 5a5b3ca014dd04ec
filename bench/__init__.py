"""Benchmarks (not tests): `python -m bench …`; results under bench/results/."""
