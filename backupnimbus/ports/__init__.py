"""Ports: the small Protocols the use cases need from the outside world, one per file.

May import: the standard library, attrs, `backupnimbus.errors` (the errors a port may raise
are part of its contract), `backupnimbus.stop_signal`, and other ports.

Must not import: the domain, adapters, entrypoints, or any third-party library beyond attrs.
A port describes what is needed, never how it is done. (tests/unit/test_import_rules.py enforces
this.)
"""

from __future__ import annotations
