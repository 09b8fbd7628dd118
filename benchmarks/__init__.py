"""The benchmark behind `make bench`: BackupNimbus against the script a user would write.

Modules: `archive_gen` writes valid mongodump archives of a given size, `replay` stands in for
mongodump by streaming one, `measure` runs a process and reads its rusage, `scenarios` holds the
side-by-side comparisons, `report` writes results.json, docs/benchmarks.md and the plot, and
`run` (`python -m benchmarks.run`) ties them together.
"""
