from __future__ import annotations

import attrs

from backupnimbus.errors import BackupNimbusError
from backupnimbus.ports.health_check import HealthCheck


@attrs.frozen
class CheckOutcome:
    name: str
    ok: bool
    detail: str
    """What was found, or why it failed (free of secrets)."""
    code: str | None = None
    """The error code of a failed check (CONFIG_ERROR: the configuration must change)."""


@attrs.frozen
class CheckSetup:
    """Runs every check, even after one fails, so one run shows everything to fix."""

    checks: tuple[HealthCheck, ...]

    def run(self) -> list[CheckOutcome]:
        outcomes = []
        for check in self.checks:
            try:
                outcomes.append(CheckOutcome(name=check.name, ok=True, detail=check.run()))
            except BackupNimbusError as error:
                outcomes.append(
                    CheckOutcome(name=check.name, ok=False, detail=error.message, code=error.code)
                )
        return outcomes
