"""The `backupnimbus` command line (DESIGN §2)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from backupnimbus import __version__
from backupnimbus.errors import BackupNimbusError, UsageInvalidError

log = logging.getLogger("backupnimbus.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], dict[str, Any]] = args.command
    try:
        document = command(args)
    except BackupNimbusError as error:
        return _fail(error, as_json=getattr(args, "json", False))
    except KeyboardInterrupt:
        return _fail(BackupNimbusError("Interrupted"), as_json=getattr(args, "json", False))
    except Exception as error:
        log.debug("unexpected failure", exc_info=True)
        wrapped = BackupNimbusError(
            f"Unexpected failure: {type(error).__name__}", details={"type": type(error).__name__}
        )
        return _fail(wrapped, as_json=getattr(args, "json", False))
    if getattr(args, "json", False):
        print(json.dumps(document, sort_keys=True))
    else:
        print(args.render(document))
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from backupnimbus.domain.models import BackupRequest
    from backupnimbus.domain.run_backup import RunBackup
    from backupnimbus.entrypoints.documents import backup_result_document

    config, container = _bootstrap()
    request = BackupRequest(
        name=args.name or config.backup_name,
        compress=config.backup_compress and not args.no_compress,
        timestamp=args.timestamp,
    )
    result = container.resolve(RunBackup).run(request=request)
    return backup_result_document(result)


def _render_run(document: dict[str, Any]) -> str:
    return (
        f"Backup complete: {document['key']}\n"
        f"  size      {document['size']} bytes\n"
        f"  sha256    {document['sha256']}\n"
        f"  duration  {document['duration_s']} s\n"
        f"  manifest  {document['manifest_key']}"
    )


def _bootstrap() -> tuple[Any, Any]:
    from backupnimbus.entrypoints.container import build_container, config_from_environment
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.redaction import Redactor

    config = config_from_environment()
    configure_logging(level=config.log_level, redactor=Redactor(config.secret_values()))
    return config, build_container(config)


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {value!r} (e.g. 2025-04-07T10:15:30Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _name(value: str) -> str:
    from backupnimbus.entrypoints.config import validate_backup_name

    try:
        return validate_backup_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid name {value!r}: expected {exc}") from None


def _fail(error: BackupNimbusError, *, as_json: bool) -> int:
    document = json.dumps(error.to_document(), sort_keys=True)
    if as_json:
        print(document)
    else:
        print(document, file=sys.stderr)
    return error.exit_code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(UsageInvalidError([message]), as_json=False))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backupnimbus", description="MongoDB backups into S3.")
    parser.add_argument("--version", action="version", version=f"backupnimbus {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="back up the configured MongoDB now")
    run.add_argument("--name", type=_name, help="backup set name (default: BACKUP_NAME)")
    run.add_argument("--no-compress", action="store_true", help="store the archive without gzip")
    run.add_argument("--timestamp", type=_timestamp, help="ISO 8601 time for the key")
    run.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    run.set_defaults(command=_run, render=_render_run)
    return parser
