"""The work an invocation selects, shared by the Lambda handler and the CLI."""

from __future__ import annotations

from typing import Any

import attrs

from backupnimbus.entrypoints.config import Config
from backupnimbus.entrypoints.lambda_events import Invocation


@attrs.frozen
class Jobs:
    config: Config
    container: Any
    """The punq container from build_container."""

    @classmethod
    def build(cls, config: Config, **overrides: Any) -> Jobs:
        from backupnimbus.entrypoints.container import build_container

        return cls(config=config, container=build_container(config, **overrides))

    def invoke(self, invocation: Invocation, context: Any = None) -> dict[str, Any]:
        if invocation.action == "backup":
            return self.backup(invocation)
        from backupnimbus.errors import UsageInvalidError

        raise UsageInvalidError([f"action {invocation.action!r} is not available yet"])

    def backup(self, invocation: Invocation) -> dict[str, Any]:
        from backupnimbus.domain.models import BackupRequest
        from backupnimbus.domain.run_backup import RunBackup
        from backupnimbus.entrypoints.documents import backup_result_document

        request = BackupRequest(
            name=invocation.name or self.config.backup_name,
            compress=self.config.backup_compress
            if invocation.compress is None
            else invocation.compress,
            timestamp=invocation.timestamp,
        )
        result = self.container.resolve(RunBackup).run(request=request)
        return backup_result_document(result)
