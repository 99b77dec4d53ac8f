"""`python -m bench`: run the benchmarks and write the figures, table and plots."""

from bench.cli import main

raise SystemExit(main())
