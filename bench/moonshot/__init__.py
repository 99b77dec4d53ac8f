"""Moonshot's side of the benchmarks: its virtualenv, its data modules, and a child process."""
