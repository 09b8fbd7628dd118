from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Returns: the current time, timezone-aware, in UTC."""
        ...
