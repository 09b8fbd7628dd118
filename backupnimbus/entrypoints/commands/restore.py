from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session

_URI_SCHEMES = ("mongodb://", "mongodb+srv://")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "restore",
        help="restore a backup into a MongoDB deployment",
        description="Streams the archive into mongorestore and checks its sha256 against the "
        "manifest on the way; a mismatch fails the restore. Give the target in "
        "RESTORE_TARGET_URI (base64) rather than --target-uri to keep its password out of `ps`.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("key", nargs="?", metavar="KEY", help="the backup's archive key")
    source.add_argument("--latest", action="store_true", help="the newest complete backup")
    source.add_argument(
        "--file", metavar="PATH", help="a local mongodump archive (gzipped, age-encrypted, or not)"
    )
    add_set_selection(parser, what="with --latest: pick from")
    parser.add_argument("--target-uri", metavar="URI", help="default: RESTORE_TARGET_URI")
    parser.add_argument(
        "--ns-include", action="append", default=[], metavar="PAT",
        help="restore only namespaces matching PAT (repeatable), e.g. 'shop.*'",
    )  # fmt: skip
    parser.add_argument("--ns-from", metavar="PAT", help="rename namespaces matching PAT...")
    parser.add_argument("--ns-to", metavar="PAT", help="...to PAT, e.g. 'shop.*' -> 'shop_copy.*'")
    parser.add_argument("--drop", action="store_true", help="drop each collection before restoring")
    parser.add_argument("--dry-run", action="store_true", help="show what would be restored")
    parser.add_argument(
        "--oplog-replay", action="store_true",
        help="replay the backup's oplog (MONGODUMP_OPLOG) after the collections, so the data "
        "is consistent to one point in time; not with --ns-include or --ns-from/--ns-to",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=restore, render=render)


def restore(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.domain.restore_backup import LocalArchive, RestoreBackup, RestoreRequest
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.documents import restore_document as result_document
    from backupnimbus.entrypoints.documents import store_document
    from backupnimbus.errors import UsageInvalidError
    from backupnimbus.ports.archive_restorer import RestoreOptions

    if args.target_uri is not None and not args.target_uri.startswith(_URI_SCHEMES):
        raise UsageInvalidError(["--target-uri must start with mongodb:// or mongodb+srv://"])
    # The target URI is part of the configuration, so its password is one of the secrets the
    # logs and the output mask.
    config, container = session.start(
        require_mongo=False, require_store=args.file is None, restore_target_uri=args.target_uri
    )
    if config.restore_target_uri is None:
        raise UsageInvalidError(
            ["no restore target: set RESTORE_TARGET_URI to the base64-encoded mongodb:// URI "
             "(keeps the password out of `ps`) or give --target-uri URI"]
        )  # fmt: skip
    options = RestoreOptions(
        ns_include=tuple(args.ns_include),
        ns_from=args.ns_from,
        ns_to=args.ns_to,
        drop=args.drop,
        dry_run=args.dry_run,
        oplog_replay=args.oplog_replay,
    )
    use_case = container.resolve(RestoreBackup)
    if args.file is None:
        name = selected_set(args, config) if args.latest else None
        request = RestoreRequest(key=args.key, latest=args.latest, name=name, options=options)
        return {**result_document(use_case.run(request=request)), "store": store_document(config)}
    try:
        handle = open(args.file, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as exc:
        raise UsageInvalidError([f"--file {args.file}: cannot read it ({exc.strerror})"]) from None
    with handle:
        if not options.dry_run:
            _check_before_writing(handle, args.file, container)
        archive = LocalArchive(path=args.file, stream=handle)
        return result_document(use_case.run(request=RestoreRequest(file=archive, options=options)))


def _check_before_writing(handle: Any, path: str, container: Any) -> None:
    """mongorestore writes documents as they arrive, and finds damage only where it is: a local
    file has no manifest to vouch for it, so it is checked whole (structure and every CRC-64)
    before anything is written, then read again from the start."""
    from backupnimbus.domain.archive import AGE_MAGIC
    from backupnimbus.domain.verify_backup import check_stream
    from backupnimbus.errors import VerificationFailedError
    from backupnimbus.ports.cipher import ArchiveCipher
    from backupnimbus.ports.compressor import StreamCompressor

    encrypted = handle.read(len(AGE_MAGIC)) == AGE_MAGIC
    handle.seek(0)
    compressor = container.resolve(StreamCompressor)
    try:
        if encrypted:
            with container.resolve(ArchiveCipher).decrypting(handle, label=path) as plaintext:
                check_stream(stream=plaintext, compressor=compressor)
        else:
            check_stream(stream=handle, compressor=compressor)
    except VerificationFailedError as damaged:
        raise VerificationFailedError(
            f"{path} is not an intact archive, so nothing was restored: {damaged.message}",
            details={**damaged.details, "file": path},
        ) from damaged
    handle.seek(0)


def _oplog_lines(document: dict[str, Any]) -> list[str]:
    oplog, replay = document.get("oplog"), document.get("oplog_replay")
    to = f", consistent to {document['consistent_at']}" if document.get("consistent_at") else ""
    if replay:
        verb = "would be replayed" if document["dry_run"] else "replayed"
        held = f" ({oplog['entries']} entries{to})" if oplog else ""
        return [f"  oplog  {verb}{held}"]
    if oplog:
        verb = "would not be replayed" if document["dry_run"] else "not replayed"
        return [f"  oplog  {verb}: the backup holds {oplog['entries']} entries; "
                "--oplog-replay makes the restore consistent to one point in time"]  # fmt: skip
    return []


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import store_line

    source = document["key"] or document["file"]
    store = store_line(document)
    hosts = ",".join(document["target_hosts"])
    if document["dry_run"]:
        lines = [f"Dry run: would restore {source} into {hosts} (nothing was written)"]
    else:
        lines = [f"Restored {source} into {hosts}"]
    existing = set(document.get("existing") or ())
    if store:
        lines.append(f"  from {store}")
    if document.get("warnings"):
        lines.append("  PARTIAL backup: its dump left out what these warnings name:")
        lines += [f"    {warning}" for warning in document["warnings"]]
    for namespace, count in document["namespaces"].items():
        note = ""
        if namespace in existing:
            note = "  (already exists: --drop replaces it, else documents are added to it)"
        lines.append(f"  {namespace}  {'?' if count is None else count} documents{note}")
    if document["dry_run"] and document["namespaces"]:
        lines.append(
            f"  {len(existing)} of {len(document['namespaces'])} target namespaces already exist"
        )
    if not document["namespaces"]:
        lines.append("  (no namespace matched)")
    lines += _oplog_lines(document)
    check = "matches the manifest" if document["sha256_verified"] else "no manifest to check"
    lines.append(f"  sha256  {document['sha256']} ({check})")
    return "\n".join(lines)
