from __future__ import annotations

from typing import Protocol


class HealthCheck(Protocol):
    """One read-only check that a configured service can be reached and used."""

    @property
    def name(self) -> str:
        """Returns: what is checked, e.g. "storage" or "mongodb"."""
        ...

    def run(self) -> str:
        """Returns: a one-line description of what was found. Raises BackupNimbusError when
        the service cannot be used; the message says why. Never writes anything."""
        ...
