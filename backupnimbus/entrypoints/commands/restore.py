from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session
    from backupnimbus.ports.archive_restorer import RestoreOptions

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
    parser.add_argument(
        "--target-uri", metavar="URI",
        help="default: RESTORE_TARGET_URI (mongodump only: a plugin's DUMP_BACKEND refuses it)",
    )  # fmt: skip
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
    from backupnimbus.domain.restore_backup import (
        RestoreBackup,
        RestoreFromFile,
        RestoreFromKey,
        RestoreLatest,
        RestoreRequest,
    )
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.documents import restore_document as result_document
    from backupnimbus.entrypoints.documents import store_document
    from backupnimbus.entrypoints.plugins import MONGODUMP
    from backupnimbus.errors import UsageInvalidError

    # The target URI is part of the configuration, so its password is one of the secrets the
    # logs and the output mask.
    config, container = session.start(
        require_mongo=False, require_store=args.file is None, restore_target_uri=args.target_uri
    )
    # A plugin's database source restores where its own settings say. Every problem of the
    # target and of the flags is named at once, so that one fix is enough.
    plugin = config.dump_backend not in (None, MONGODUMP)
    problems: list[str] = []
    if args.target_uri is not None and plugin:
        problems.append(
            f"--target-uri names a MongoDB deployment for mongorestore, but DUMP_BACKEND="
            f"{config.dump_backend} restores where its own settings say: drop --target-uri "
            "(or unset DUMP_BACKEND to restore a mongodump backup)"
        )
    elif args.target_uri is not None and not args.target_uri.startswith(_URI_SCHEMES):
        problems.append("--target-uri must start with mongodb:// or mongodb+srv://")
    elif config.restore_target_uri is None and not plugin:
        problems.append(
            "no restore target: set RESTORE_TARGET_URI to the base64-encoded mongodb:// URI "
            "(keeps the password out of `ps`) or give --target-uri URI"
        )
    try:
        options = _options(args)
    except UsageInvalidError as flags:
        raise UsageInvalidError([*problems, *flags.problems]) from None
    if problems:
        raise UsageInvalidError(problems)
    request: RestoreRequest
    if args.file is not None:
        request = RestoreFromFile(path=args.file, options=options)
    elif args.latest:
        request = RestoreLatest(name=selected_set(args, config), options=options)
    else:
        request = RestoreFromKey(key=args.key, options=options)
    document = result_document(container.resolve(RestoreBackup).run(request=request))
    if args.file is not None:
        return document
    return {**document, "store": store_document(config)}


def _options(args: argparse.Namespace) -> RestoreOptions:
    """Raises UsageInvalidError listing every flag combination that cannot be restored."""
    from backupnimbus.errors import UsageInvalidError
    from backupnimbus.ports.archive_restorer import NamespaceRename, RestoreOptions

    problems = []
    if (args.ns_from is None) != (args.ns_to is None):
        problems.append("--ns-from and --ns-to must be given together")
    # Half a rename still counts as one for the other checks, so every problem is listed now.
    asked = args.ns_from is not None or args.ns_to is not None
    rename = NamespaceRename(ns_from=args.ns_from or "", ns_to=args.ns_to or "") if asked else None
    try:
        options = RestoreOptions(
            ns_include=tuple(args.ns_include),
            rename=rename,
            drop=args.drop,
            dry_run=args.dry_run,
            oplog_replay=args.oplog_replay,
        )
    except UsageInvalidError as contradiction:
        problems += contradiction.problems
    if problems:
        raise UsageInvalidError(problems)
    return options


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
