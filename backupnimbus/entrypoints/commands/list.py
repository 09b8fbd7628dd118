from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.entrypoints.arguments import add_set_selection

if TYPE_CHECKING:
    from backupnimbus.domain.list_backups import BackupRecord


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "list",
        help="list the backups in the store, newest first",
        description="A backup without a manifest is listed as incomplete: its upload never "
        "finished, so it cannot be trusted for a restore.",
    )
    add_set_selection(parser, what="list")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=list_backups, render=render)


def list_backups(args: argparse.Namespace) -> dict[str, Any]:
    from backupnimbus.domain.list_backups import ListBackups
    from backupnimbus.entrypoints.arguments import selected_set
    from backupnimbus.entrypoints.bootstrap import bootstrap
    from backupnimbus.entrypoints.documents import store_document

    config, container = bootstrap(require_mongo=False)
    name = selected_set(args, config)
    records = container.resolve(ListBackups).run(name=name)
    return {
        "store": store_document(config),
        "set": name,
        "backups": [record_document(record) for record in records],
    }


def record_document(record: BackupRecord) -> dict[str, Any]:
    manifest = record.manifest
    return {
        "name": record.name,
        "timestamp": record.timestamp.isoformat().replace("+00:00", "Z"),
        "key": record.key,
        "size": record.size,
        "sha256": manifest.sha256 if manifest else None,
        "compressed": record.compressed,
        "encrypted": record.encrypted,
        "complete": record.complete,
        "status": "complete" if record.complete else "incomplete",
        "namespaces": dict(manifest.namespaces) if manifest and manifest.namespaces else None,
    }


_FLAGS = {"gz": "compressed", "age": "encrypted"}


def render(document: dict[str, Any]) -> str:
    from backupnimbus.entrypoints.documents import store_line

    backups = document["backups"]
    if not backups:
        where = "any set" if document["set"] is None else f"set {document['set']}"
        return f"No backups of {where} found in {store_line(document)}."
    rows = [("NAME", "TIMESTAMP", "SIZE", "SHA256", "FLAGS", "STATUS", "KEY")]
    for item in backups:
        flags = ",".join(flag for flag, field in _FLAGS.items() if item[field]) or "-"
        rows.append((
            item["name"], item["timestamp"], _human_size(item["size"]),
            (item["sha256"] or "-")[:12], flags, item["status"], item["key"],
        ))  # fmt: skip
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join([*table, f"in {store_line(document)}"])


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
