"""The benchmark behind `make bench`: BackupNimbus against the script a user would write.

Modules: `archive_gen` writes valid mongodump archives of a given size (`realistic` makes the
shop-like documents of the compressed scenarios), `replay` stands in for mongodump by streaming
one, `measure` runs a process and reads its rusage, `scenarios` holds the side-by-side
comparisons and `compression` the compressed-backup ones, against the Go gzip that
`gobaseline` builds from `gogzip/main.go`; `report` writes results.json, docs/benchmarks.md and
the plot, and `run` (`python -m benchmarks.run`) ties them together. `levels` is a standalone
comparison of compression levels.
"""
