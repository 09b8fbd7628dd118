from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="validate the configuration and reach every configured service, writing nothing",
        description="Validates the configuration, then checks the store (a listing of the "
        "prefix, or the local directory), Object Lock on the bucket when S3_OBJECT_LOCK_MODE "
        "is set (exit 2 without it), the SES sender identity when notifications are on, mongodump "
        "--version, and a MongoDB connection that dumps nothing. Exits 1 if any check fails.",
    )
    parser.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                        help="how long to wait for MongoDB (default 20)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=check, render=render)


def check(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.entrypoints.container import build_setup_check

    _, container = session.start()
    outcomes = build_setup_check(container, timeout_s=args.timeout).run()
    failed = [o.name for o in outcomes if not o.ok]
    # A check that failed on the configuration (a bucket without Object Lock) needs a change,
    # not a retry: it exits like any other configuration error.
    misconfigured = any(o.code == "CONFIG_ERROR" for o in outcomes if not o.ok)
    return {
        "status": "failed" if failed else "ok",
        "checks": [
            {"name": o.name, "ok": o.ok, "detail": o.detail, **({"code": o.code} if o.code else {})}
            for o in outcomes
        ],
        "failed": failed,
        "exit_code": 2 if misconfigured else 1 if failed else 0,
    }


def render(document: dict[str, Any]) -> str:
    lines = [
        f"{'ok  ' if c['ok'] else 'FAIL'}  {c['name']:<14} {c['detail']}"
        for c in document["checks"]
    ]
    verdict = (
        "all checks passed"
        if not document["failed"]
        else "failed: " + ", ".join(document["failed"])
    )
    return "\n".join([*lines, verdict])
