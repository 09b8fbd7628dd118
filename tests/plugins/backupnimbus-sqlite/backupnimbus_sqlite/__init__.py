"""SQLite as a BackupNimbus database source: DUMP_BACKEND=sqlite."""
