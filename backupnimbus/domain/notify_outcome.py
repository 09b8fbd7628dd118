"""E-mails how a backup went, without ever changing how it went."""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime

import attrs

from backupnimbus.domain.models import BackupResult, NotificationOutcome
from backupnimbus.errors import BackupNimbusError, NotificationFailedError
from backupnimbus.ports.mailer import Email, Mailer
from backupnimbus.redaction import Redactor

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[BackupNimbus]"
_Rows = list[tuple[str, str]]
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


@attrs.frozen
class NotifyOutcome:
    """Mails the outcome of a backup; a mail that cannot be sent is reported, never raised."""

    mailer: Mailer
    redactor: Redactor = attrs.Factory(Redactor)
    """Masks secrets in everything mailed, error messages from the dump above all."""
    on_success: bool = True
    """Mail when a backup succeeded."""
    on_failure: bool = True
    """Mail when a backup failed."""
    store: str | None = None
    """Which store and where in it ("s3 s3://bucket/backups/"), named in every mail."""

    def notify(
        self,
        *,
        name: str,
        result: BackupResult | None = None,
        error: BackupNimbusError | None = None,
    ) -> NotificationOutcome | None:
        """Args:
            name: the backup set.
            result: the finished backup; give it or `error`, not both.
            error: why the backup failed.

        Returns: what became of the e-mail, or None when the settings say not to send one.
        """
        if (result is None) == (error is None):
            raise TypeError("notify takes exactly one of `result` and `error`")
        if error is not None:
            if not self.on_failure:
                return None
            email = self._email(f"Backup failed: {name}", self._where(_failure_rows(error)))
        else:
            assert result is not None
            if result.manifest.complete:
                if not self.on_success:
                    return None
                email = self._email(f"Backup succeeded: {name}", self._where(_success_rows(result)))
            else:
                # Stored, but not a good backup: it is mailed as a failure would be.
                if not self.on_failure:
                    return None
                email = self._email(
                    f"Backup incomplete: {name}", self._where(_partial_rows(result))
                )
        try:
            self.mailer.send(email=email)
        except NotificationFailedError as exc:
            reason = self.redactor.redact(exc.message)
        # The promise is that mail never decides a backup's fate, whatever the mailer does.
        except Exception as exc:
            reason = f"Unexpected failure: {type(exc).__name__}"
        else:
            log.info("notification sent", extra={"subject": email.subject})
            return NotificationOutcome(sent=True)
        log.warning("notification not sent", extra={"subject": email.subject, "error": reason})
        return NotificationOutcome(sent=False, error=reason)

    def _where(self, rows: _Rows) -> _Rows:
        return [("Store", self.store), *rows] if self.store else rows

    def _email(self, headline: str, rows: _Rows) -> Email:
        # Redacted before escaping, so that a secret holding '&' or '<' is still recognised.
        headline = self.redactor.redact(headline)
        rows = [(label, self.redactor.redact(value)) for label, value in rows]
        width = max(len(label) for label, _ in rows) + 2
        text = "\n".join(
            [headline, "", *(f"{label + ':':<{width}}{value}" for label, value in rows)]
        )
        cells = "".join(
            f'<tr><th align="left" valign="top">{html.escape(label)}</th>'
            f"<td><code>{html.escape(value)}</code></td></tr>"
            for label, value in rows
        )
        markup = (
            f"<!DOCTYPE html><html><body><h2>{html.escape(headline)}</h2>"
            f'<table cellpadding="4">{cells}</table></body></html>'
        )
        return Email(subject=f"{SUBJECT_PREFIX} {headline}", text=text + "\n", html=markup)


def _success_rows(result: BackupResult) -> _Rows:
    manifest = result.manifest
    rows = [
        ("Key", manifest.key),
        ("Manifest", result.manifest_key),
        ("Size", human_size(manifest.size)),
        ("Duration", f"{manifest.duration_s} s"),
        ("SHA-256", manifest.sha256),
        ("Started", _iso(manifest.started_at)),
        ("Finished", _iso(manifest.finished_at)),
    ]
    if manifest.namespaces:
        documents = sum(manifest.namespaces.values())
        rows.append(("Documents", f"{documents} in {len(manifest.namespaces)} namespace(s)"))
    return rows


def _partial_rows(result: BackupResult) -> _Rows:
    warnings = result.manifest.warnings
    return [
        (
            "Status",
            "PARTIAL: stored, but the dump left something out; it does not count as a good "
            "backup for retention or --latest",
        ),
        *_success_rows(result),
        *((f"Warning {n}", text) for n, text in enumerate(warnings, 1)),
    ]


def _failure_rows(error: BackupNimbusError) -> _Rows:
    rows = [("Error", error.code), ("Message", error.message)]
    key = error.details.get("key")
    if isinstance(key, str):
        rows.append(("Key", key))
    others = {k: v for k, v in error.details.items() if k != "key"}
    if others:
        rows.append(("Details", json.dumps(others, sort_keys=True, default=str)))
    return rows


def human_size(size: int) -> str:
    """Returns: e.g. "1.5 MiB (1572864 bytes)", or "512 bytes" below one KiB."""
    if size < 1024:
        return f"{size} bytes"
    # bit_length, unlike a float logarithm, cannot land just below an exact power of 1024.
    exponent = min((size.bit_length() - 1) // 10, len(_UNITS))
    return f"{size / 1024**exponent:.1f} {_UNITS[exponent - 1]} ({size} bytes)"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
