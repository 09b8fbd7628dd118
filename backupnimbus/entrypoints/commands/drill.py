from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    from backupnimbus.entrypoints.arguments import backup_name

    parser = commands.add_parser(
        "drill",
        help="prove a backup restores: restore it into scratch databases, check, drop them",
        description="Verifies a backup, restores it into scratch databases "
        "bn_drill_<stamp>_<db> on DRILL_TARGET_URI (else RESTORE_TARGET_URI), checks every "
        "collection's count and index definitions and a random sample of documents against "
        "the archive, and drops the scratch databases whatever happens. Exits 0 when the "
        "drill passes, 1 when it fails.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("key", nargs="?", metavar="KEY", help="the backup's archive key")
    which.add_argument(
        "--latest", action="store_true", help="the newest complete backup of the set (default)"
    )
    which.add_argument(
        "--random-within", type=_days, metavar="DAYS",
        help="a random complete backup of the set that finished in the last DAYS days",
    )  # fmt: skip
    parser.add_argument("--name", type=backup_name, help="the backup set (default: BACKUP_NAME)")
    parser.add_argument(
        "--sample", type=_count, metavar="N", help="documents read back per collection (100)"
    )
    parser.add_argument("--seed", type=_count, metavar="N", help="the sample's seed (random)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=drill, render=render)


def drill(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.entrypoints.jobs import Jobs

    config, container = session.start(require_mongo=False, require_store=True)
    jobs = Jobs(config=config, container=container)
    return jobs.drill(
        name=args.name or config.backup_name,
        key=args.key,
        random_within_days=args.random_within,
        sample_size=args.sample,
        seed=args.seed,
    )


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import store_line

    store = store_line(document)
    lines = [
        f"Restore drill passed: {document['key']}",
        *([f"  store      {store}"] if store else []),
        f"  target     {', '.join(document['target_hosts'])} "
        f"(scratch {document['scratch_prefix']}*, dropped)",
        f"  RTO        {document['rto_s']:.1f} s, {document['mb_per_s']:.2f} MB/s "
        f"(verify {document['phases_s']['verify']:.1f} s, restore "
        f"{document['phases_s']['restore']:.1f} s, check {document['phases_s']['check']:.1f} s)",
        f"  sample     {document['sample']['size']} per collection, "
        f"seed {document['sample']['seed']}",
        f"  {len(document['collections'])} collections, counts, indexes and samples match:",
    ]
    width = max((len(ns) for ns in document["collections"]), default=0)
    for namespace, check in document["collections"].items():
        lines.append(
            f"    {namespace.ljust(width)}  {check['documents']:>12,} documents  "
            f"{check['indexes']:>3} indexes  {check['sampled']:>4} sampled"
        )
    if document["dropped_leftovers"]:
        lines.append(
            f"  dropped an earlier drill's leftovers: {', '.join(document['dropped_leftovers'])}"
        )
    return "\n".join(lines)


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r}") from None
    if not 0 < days < 36500:
        raise argparse.ArgumentTypeError(f"DAYS must be above 0: {value!r}")
    return days


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more: {value!r}")
    return int(value)
