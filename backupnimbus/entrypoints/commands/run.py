from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import backup_name, iso_timestamp
from backupnimbus.ports.compressor import ALGORITHMS

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="back up the configured MongoDB now",
        description="Dumps MongoDB into the store, writes the manifest, applies RETENTION_KEEP_* "
        "when set, and mails the outcome when notifications are on.",
    )
    parser.add_argument("--name", type=backup_name, help="backup set name (default: BACKUP_NAME)")
    parser.add_argument(
        "--no-compress",
        action="store_true",
        help="store the archive uncompressed (as --compression none)",
    )
    parser.add_argument(
        "--compression", choices=ALGORITHMS,
        help="gzip (default; standard .gz), zstd (.zst) or none; default: BACKUP_COMPRESSION",
    )  # fmt: skip
    parser.add_argument("--timestamp", type=iso_timestamp, help="ISO 8601 time for the key")
    parser.add_argument(
        "--timeout", type=seconds, metavar="SECONDS",
        help="stop, abort the upload and fail with TIMEOUT if the backup is not stored by then",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=run, render=render)


def seconds(value: str) -> float:
    try:
        parsed = float(value)
    except ValueError:
        parsed = float("nan")
    if not 0 < parsed < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {value!r}")
    return parsed


def run(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.entrypoints.jobs import Jobs
    from backupnimbus.entrypoints.lambda_events import Invocation

    config, container = session.start()
    invocation = Invocation(
        name=args.name,
        compress=False if args.no_compress else None,
        compression=args.compression,
        timestamp=args.timestamp,
    )
    jobs = Jobs(config=config, container=container)
    return jobs.backup(invocation, budget_s=args.timeout, name_source="--name")


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import store_line

    compression = document.get("manifest", {}).get("compression") or {}
    lines = [
        f"Backup complete: {document['key']}",
        f"  compress  {compression.get('algorithm', '?')} level {compression.get('level')}",
        f"  store     {store_line(document)}",
        f"  size      {document['size']} bytes",
        f"  sha256    {document['sha256']}",
        f"  duration  {document['duration_s']} s",
        f"  manifest  {document['manifest_key']}",
    ]
    notification = document.get("notification")
    if notification is not None:
        sent = "sent" if notification["sent"] else f"NOT sent: {notification['error']}"
        lines.append(f"  e-mail    {sent}")
    retention = document.get("retention")
    if retention is not None:
        if retention.get("status") == "failed":
            lines.append(f"  retention FAILED: {retention['error']}")
        else:
            lines.append(f"  retention deleted {retention['counts']['deleted']} old backup(s)")
    return "\n".join(lines)
