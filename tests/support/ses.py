"""Reading back the e-mails a moto server accepted, as a recipient would see them.

SES gets a moto server process of its own (the `ses_endpoint` fixture): moto's model dump,
`GET /moto-api/data.json`, serialises every backend, and S3 state left by other tests (an upload
whose bucket was deleted) makes that dump fail.
"""

from __future__ import annotations

import json
import urllib.request

import attrs

SENDER = "backups@example.com"


@attrs.frozen
class Delivered:
    subject: str
    body: str
    """What the recipient's client shows: the HTML body when there is one, else the text."""
    recipients: tuple[str, ...]


def moto_sent(endpoint: str, subject: str, *, sender: str = SENDER) -> list[Delivered]:
    url = f"{endpoint}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (our own http server)
        messages = json.load(response)["ses"]["Message"]
    return [
        Delivered(
            subject=message["subject"],
            body=message["body"],
            recipients=tuple(
                address
                for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
                for address in message["destinations"].get(kind, [])
            ),
        )
        for message in messages
        if message["subject"] == subject and message["source"] == sender
    ]
