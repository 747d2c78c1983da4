"""Reporting: the tables, the figures, the statistics behind their verdicts, and the in-process
comparison used by the benchmarks. The workflow hands them the files they read."""
