"""Benchmarks: Sparring against Moonshot 0.7.6 on the same machine, in the same run."""
