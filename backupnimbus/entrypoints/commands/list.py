from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "list",
        help="list the backups in the store, newest first",
        description="Each backup is complete, partial (the dump tool reported leaving something "
        "out), unreadable (its manifest does not decode or describes another archive) or "
        "incomplete (no manifest: its upload never finished). Only complete backups count for "
        "--latest and retention.",
    )
    add_set_selection(parser, what="list")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=list_backups, render=render)


def list_backups(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.domain.list_backups import ListBackups
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.documents import list_document

    config, container = session.start(require_mongo=False)
    name = selected_set(args, config)
    return list_document(container.resolve(ListBackups).run(name=name), config=config, name=name)


_FLAGS = {"gz": "compressed", "age": "encrypted"}
_FLAG_NAMES = {"gzip": "gz", "zstd": "zst"}


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import lock_line, store_line
    from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE

    backups = document["backups"]
    locks = any("lock" in item for item in backups)
    if not backups:
        where = "any set" if document["set"] is None else f"set {document['set']}"
        return f"No backups of {where} found in {store_line(document)}."
    rows = [("NAME", "TIMESTAMP", "SIZE", "SHA256", "FLAGS", "STATUS", *(("LOCK",) * locks), "KEY")]
    for item in backups:
        flags = (
            ",".join(
                _FLAG_NAMES.get(item.get("compression"), "gz") if field == "compressed" else flag
                for flag, field in _FLAGS.items()
                if item[field]
            )
            or "-"
        )
        if item.get("format") not in (None, MONGODUMP_ARCHIVE):
            # Another database's dump: shown where the archive's form is.
            flags = item["format"] if flags == "-" else f"{flags},{item['format']}"
        rows.append((
            item["name"], item["timestamp"], _human_size(item["size"]),
            (item["sha256"] or "-")[:12], flags, _status(item),
            *((lock_line(item.get("lock")),) * locks), item["key"],
        ))  # fmt: skip
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    # The reason is too long for a column, and the one thing a user needs to act on.
    notes = [f"{item['key']}: {item['problem']}" for item in backups if item.get("problem")]
    unreadable = ["", "Unreadable:", *(f"  {n}" for n in notes)] if notes else []
    return "\n".join([*lines, *unreadable, f"in {store_line(document)}"])


def _status(item: dict[str, Any]) -> str:
    count = len(item.get("warnings") or ())
    if item["status"] != "partial" or not count:
        return str(item["status"])
    return f"partial ({count} warning{'s' if count != 1 else ''})"


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
