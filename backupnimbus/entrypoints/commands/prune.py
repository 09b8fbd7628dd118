from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.domain.retention import RULES, RetentionPolicy
from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


_HELP = {
    "last": "the N newest backups",
    "hourly": "the newest backup of each of the last N hours that have one",
    "daily": "the newest backup of each of the last N days that have one",
    "weekly": "the newest backup of each of the last N ISO weeks that have one",
    "monthly": "the newest backup of each of the last N months that have one",
    "yearly": "the newest backup of each of the last N years that have one",
}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "prune",
        help="delete the backups the retention policy no longer keeps",
        description="Keeps the newest backup of each of the last N periods of every rule given "
        "(restic `forget` semantics, in UTC). Without any --keep-* flag the RETENTION_KEEP_* "
        "variables apply; with any flag, only the flags do.",
    )
    for rule in RULES:
        parser.add_argument(
            f"--keep-{rule}", type=keep_count, metavar="N", help=f"keep {_HELP[rule]}"
        )
    add_set_selection(parser, what="prune")
    parser.add_argument("--dry-run", action="store_true", help="show the plan, delete nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=prune, render=render)


def keep_count(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {value!r}")
    return int(value)


def prune(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.domain.prune_backups import PruneBackups
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.documents import prune_result_document, store_document

    config, container = session.start(require_mongo=False)
    name = selected_set(args, config)
    result = container.resolve(PruneBackups).run(
        policy=policy_from(args, default=config.retention),
        name=name,
        all_sets=name is None,
        dry_run=args.dry_run,
    )
    return {**prune_result_document(result), "set": name, "store": store_document(config)}


def policy_from(args: argparse.Namespace, *, default: RetentionPolicy) -> RetentionPolicy:
    """The flags when any is given (absent ones count 0), else the configured policy."""
    given = {rule: getattr(args, f"keep_{rule}") for rule in RULES}
    if all(value is None for value in given.values()):
        return default
    return RetentionPolicy(**{rule: value or 0 for rule, value in given.items()})


def render(document: dict[str, Any]) -> str:
    rules = ", ".join(f"{rule} {n}" for rule, n in document["policy"].items() if n)
    from backupnimbus.entrypoints.documents import lock_line, store_line

    dry = document["dry_run"]
    gone = "would_delete" if dry else "deleted"
    which = " in every set" if document.get("set", "") is None else ""
    which = f" in set {document['set']}" if document.get("set") else which
    lines = [f"Policy: keep {rules}{which}" + (" (dry run: nothing was deleted)" if dry else "")]
    store = store_line(document)
    if store:
        lines.insert(0, f"Store: {store}")
    lines.append(f"Keep {document['counts']['kept']} backup(s):")
    for kept in document["kept"]:
        why = ", ".join(kept["reasons"])
        locked = kept["key"] in document.get("locked", ())
        by = "kept by " if kept["complete"] and not locked else ""
        lock = kept.get("lock")
        held = f"  [{lock_line(lock)}]" if lock and not locked else ""
        lines.append(f"  {kept['key']}  ({by}{why}){held}")
    if document.get("locked"):
        lines.append(
            f"{len(document['locked'])} backup(s) the policy lets go are still locked, so they "
            "were kept; a later prune deletes them once their lock runs out"
        )
    extended = "would_extend" if dry else "extended"
    if document.get(extended):
        verb = "Would extend" if dry else "Extended"
        lines.append(f"{verb} the lock of {len(document[extended])} kept backup(s):")
        lines.extend(
            f"  {item['key']}  ({lock_line(item['from'])} -> {item['to']['retain_until']})"
            for item in document[extended]
        )
    verb = "Would delete" if dry else "Deleted"
    lines.append(f"{verb} {document['counts'][gone]} backup(s):")
    lines.extend(f"  {entry['key']}  ({entry['reason']})" for entry in document[gone])
    if document["unreadable"]:
        lines.append(
            f"{len(document['unreadable'])} backup(s) with an unreadable manifest were kept; "
            "check them with `backupnimbus verify KEY` or by hand"
        )
    return "\n".join(lines)
