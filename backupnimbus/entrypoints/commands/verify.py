from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="check a backup against its manifest and the archive format",
        description="Downloads the archive once, comparing its size and SHA-256 with the "
        "manifest while checking the archive's structure and every collection's CRC-64 (for a "
        "dump backend's other format: its size and SHA-256). Exits 1 on any difference.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("key", nargs="?", help="the archive's key in the store")
    target.add_argument(
        "--latest", action="store_true", help="the newest complete backup of the set"
    )
    target.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="a local archive (no store, no manifest), age-encrypted or not",
    )
    add_set_selection(parser, what="with --latest: pick from")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=verify, render=render)


def verify(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.domain.verify_backup import (
        VerifiedFile,
        VerifyBackup,
        VerifyFromFile,
        VerifyFromKey,
        VerifyLatest,
        VerifyRequest,
    )
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.documents import (
        store_document,
        verified_document,
        verified_file_document,
    )
    from backupnimbus.errors import UsageInvalidError

    if args.key is None and not args.latest and args.file is None:
        raise UsageInvalidError(["verify needs a KEY, --latest or --file PATH"])
    config, container = session.start(require_mongo=False, require_store=args.file is None)
    request: VerifyRequest
    if args.file is not None:
        request = VerifyFromFile(path=str(args.file))
    elif args.latest:
        request = VerifyLatest(name=selected_set(args, config))
    else:
        # A set named with a KEY is a check too: the key must be one of that set.
        request = VerifyFromKey(key=args.key, name=args.name)
    report = container.resolve(VerifyBackup).run(request=request)
    if isinstance(report, VerifiedFile):
        return verified_file_document(report)
    return {
        **verified_document(report),
        **_locks_document(container, report.key),
        "store": store_document(config),
    }


def _locks_document(container: Any, key: str) -> dict[str, Any]:
    """With Object Lock in use, the archive's and the manifest's locks as the store has them."""
    from backupnimbus.domain.keys import manifest_key
    from backupnimbus.entrypoints.container import locking_of
    from backupnimbus.entrypoints.documents import lock_document

    locking = locking_of(container)
    if locking is None:
        return {}
    return {
        "lock": lock_document(locking.locks.lock_of(key=key)),
        "manifest_lock": lock_document(locking.locks.lock_of(key=manifest_key(key))),
    }


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import lock_line, store_line

    where = document.get("key") or document["file"]
    namespaces = document["namespaces"]
    partial = document["status"] == "verified-partial"
    store = store_line(document)
    lines = [
        f"Verified: {where}"
        + (" (a PARTIAL backup: the dump left something out)" if partial else ""),
        *([f"  store     {store}"] if store else []),
        f"  size      {document['size']} bytes" + _forms(document),
        f"  sha256    {document['sha256']}"
        + (" (matches the manifest)" if "manifest_sha256" in document else ""),
        _archive_line(document),
        *(
            [f"  lock      archive {lock_line(document['lock'])}, "
             f"manifest {lock_line(document['manifest_lock'])}"]
            if "lock" in document else []
        ),
        *_oplog_lines(document),
        *([f"  {len(namespaces)} namespaces, every CRC-64 correct:"]
          if document["archive"] is not None else []),
    ]  # fmt: skip
    width = max((len(ns) for ns in namespaces), default=0)
    lines += [
        f"    {ns.ljust(width)}  {stats['documents']:>12,} documents  {stats['bytes']:>15,} bytes"
        for ns, stats in namespaces.items()
    ]
    if partial:
        lines.append(f"  {len(document['warnings'])} warning(s) from the dump:")
        lines += [f"    {warning}" for warning in document["warnings"]]
    return "\n".join(lines)


def _archive_line(document: dict[str, Any]) -> str:
    archive = document["archive"]
    if archive is None:
        return (f"  format    {document.get('format')}: size and sha256 checked "
                "(the archive is not a mongodump archive, so it is not walked)")  # fmt: skip
    return (f"  archive   {archive['bytes']} bytes, mongodump {archive['tool_version']}, "
            f"server {archive['server_version']}")  # fmt: skip


def _oplog_lines(document: dict[str, Any]) -> list[str]:
    oplog = document.get("oplog")
    if oplog is None:
        return []
    first, last = oplog["first_ts"], oplog["last_ts"]
    span = f", ts {first['t']}:{first['i']} to {last['t']}:{last['i']}" if first and last else ""
    return [
        f"  oplog     {oplog['entries']} entries{span}",
        f"  consistent at {document['consistent_at'] or '?'} (with restore --oplog-replay)",
    ]


def _forms(document: dict[str, Any]) -> str:
    forms = ["age"] if document.get("encrypted") else []
    if document.get("compressed"):
        forms.append(str(document.get("compression") or "gzip"))
    return f" ({', '.join(forms)})" if forms else ""
