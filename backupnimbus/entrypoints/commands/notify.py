from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from backupnimbus.errors import ConfigInvalidError

if TYPE_CHECKING:
    from backupnimbus.entrypoints.bootstrap import Session


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "notify", help="e-mail a message of your own through the configured notifications"
    )
    parser.add_argument("--subject", required=True, help="one-line subject")
    parser.add_argument("--message", required=True, help="plain-text body")
    parser.add_argument("--html", help="HTML body, sent beside the plain text")
    parser.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="ADDR",
        help="send to ADDR instead of NOTIFICATION_RECIPIENTS (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(command=notify, render=render)


def notify(args: argparse.Namespace, session: Session) -> dict[str, Any]:
    from backupnimbus.domain.send_message import SendMessage

    config, container = session.start(require_mongo=False, require_store=False)
    settings = config.notifications
    problems = []
    # With notifications off the container mails into the log; a command that promises an
    # e-mail must say so rather than report a message nobody will receive.
    if not settings.enabled:
        problems.append("NOTIFICATIONS_ENABLED must be true to send e-mail")
    if settings.sender is None:
        problems.append(
            "NOTIFICATION_SENDER_EMAIL is required: the SES-verified sender address, base64-encoded"
        )
    if not settings.recipients and not args.recipient:
        problems.append(
            "NOTIFICATION_RECIPIENTS is required (base64-encoded, comma-separated addresses) "
            "unless --recipient is given"
        )
    if problems:
        raise ConfigInvalidError(problems)
    container.resolve(SendMessage).send(
        subject=args.subject, message=args.message, html=args.html, recipients=args.recipient
    )
    return {
        "status": "sent",
        "subject": args.subject.strip(),
        "recipients": list(args.recipient or settings.recipients),
    }


def render(document: dict[str, Any]) -> str:
    return f"Sent {document['subject']!r} to {', '.join(document['recipients'])}"
