"""BackupNimbus: streams mongodump archives into S3 and proves they can be restored."""

from __future__ import annotations

__version__ = "0.1.0"
