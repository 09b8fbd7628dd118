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
        if invocation.action == "verify":
            return self.verify(invocation)
        if invocation.action == "prune":
            return self.prune()
        return self.backup(invocation)

    def backup(self, invocation: Invocation) -> dict[str, Any]:
        from backupnimbus.domain.backup_job import BackupJob
        from backupnimbus.domain.models import BackupRequest
        from backupnimbus.entrypoints.documents import job_result_document

        compress = (
            self.config.backup_compress if invocation.compress is None else invocation.compress
        )
        request = BackupRequest(
            name=invocation.name or self.config.backup_name,
            compress=compress,
            timestamp=invocation.timestamp,
        )
        return job_result_document(self.container.resolve(BackupJob).run(request=request))

    def verify(self, invocation: Invocation) -> dict[str, Any]:
        from backupnimbus.domain.list_backups import ListBackups, latest_complete
        from backupnimbus.domain.verify_backup import VerifyBackup
        from backupnimbus.entrypoints.commands.verify import verified_document

        key = invocation.key
        if key is None:
            records = self.container.resolve(ListBackups).run(
                name=invocation.name or self.config.backup_name
            )
            key = latest_complete(records).key
        return verified_document(self.container.resolve(VerifyBackup).run(key=key))

    def prune(self) -> dict[str, Any]:
        from backupnimbus.domain.prune_backups import PruneBackups
        from backupnimbus.entrypoints.commands.prune import prune_result_document

        result = self.container.resolve(PruneBackups).run(policy=self.config.retention)
        return prune_result_document(result)
