from __future__ import annotations

import argparse
from typing import Any

from backupnimbus.entrypoints.arguments import backup_name, iso_timestamp


def register(commands: Any) -> None:
    parser = commands.add_parser("run", help="back up the configured MongoDB now")
    parser.add_argument("--name", type=backup_name, help="backup set name (default: BACKUP_NAME)")
    parser.add_argument("--no-compress", action="store_true", help="store the archive without gzip")
    parser.add_argument("--timestamp", type=iso_timestamp, help="ISO 8601 time for the key")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=run, render=render)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.domain.run_backup import RunBackup
    from backupnimbus.entrypoints.bootstrap import bootstrap
    from backupnimbus.entrypoints.documents import backup_result_document

    config, container = bootstrap()
    request = BackupRequest(
        name=args.name or config.backup_name,
        compress=config.backup_compress and not args.no_compress,
        timestamp=args.timestamp,
    )
    result = container.resolve(RunBackup).run(request=request)
    return backup_result_document(result)


def render(document: dict[str, Any]) -> str:
    return (
        f"Backup complete: {document['key']}\n"
        f"  size      {document['size']} bytes\n"
        f"  sha256    {document['sha256']}\n"
        f"  duration  {document['duration_s']} s\n"
        f"  manifest  {document['manifest_key']}"
    )
