"""Prometheus metrics: the series a process keeps, how they are recorded, how they are served.

Each process (`sparring serve`, each `sparring worker`) keeps its own series in memory and is
scraped on its own address, so no two processes ever write to the same series.
"""
