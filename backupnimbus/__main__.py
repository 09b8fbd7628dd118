from __future__ import annotations

from backupnimbus.entrypoints.cli import main

raise SystemExit(main())
