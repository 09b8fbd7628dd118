from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session

BUILTIN = {"dump_backends": ["mongodump"], "storage_backends": ["local", "s3"],
           "mailer_backends": ["log", "ses"]}  # fmt: skip


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "plugins",
        help="list the installed plugins and what they register",
        description="Loads every `backupnimbus.plugins` entry point, as a command would, and "
        "lists the backends each adds (for DUMP_BACKEND, with its archive format, STORAGE_BACKEND "
        "and MAILER_BACKEND), the ports it "
        "replaces, and its hooks. Needs no configuration. A plugin that fails to load exits 2.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=plugins, render=render)


def plugins(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.entrypoints.documents import plugins_document
    from backupnimbus.entrypoints.plugins import PluginRegistry, load_plugins

    # Registering only records factories; nothing is built, so no configuration is needed.
    return plugins_document(load_plugins(PluginRegistry()), builtin=BUILTIN)


def render(document: dict[str, Any]) -> str:
    lines = []
    for plugin in document["plugins"]:
        origin = f"{plugin['distribution']} {plugin['version']}" if plugin["distribution"] else ""
        lines.append(
            f"{plugin['name']}  ({plugin['entry_point']}{', ' + origin if origin else ''})"
        )
        if plugin["dump_backends"]:
            dumps = [f"{d['name']} ({d['format']})" for d in plugin["dump_backends"]]
            lines.append(f"  dump backends: {', '.join(dumps)}")
        for label, key in (("storage backends", "storage_backends"),
                           ("mailer backends", "mailer_backends"),
                           ("replaces", "replaces"), ("hooks", "hooks")):  # fmt: skip
            if plugin[key]:
                lines.append(f"  {label}: {', '.join(plugin[key])}")
    if not lines:
        lines.append("No plugins installed (entry-point group backupnimbus.plugins).")
    builtin = document["builtin"]
    lines.append(
        f"Built in: dump {', '.join(builtin['dump_backends'])}; "
        f"storage {', '.join(builtin['storage_backends'])}; "
        f"mailer {', '.join(builtin['mailer_backends'])}"
    )
    return "\n".join(lines)
