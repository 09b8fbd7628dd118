from __future__ import annotations

import logging
from typing import Any

import attrs

from backupnimbus.domain.archive import ArchiveSummary, read_archive
from backupnimbus.domain.keys import manifest_key
from backupnimbus.domain.manifest_codec import decode_manifest
from backupnimbus.domain.models import Manifest
from backupnimbus.domain.streams import DigestingReader
from backupnimbus.errors import BackupNotFoundError, VerificationFailedError
from backupnimbus.ports.object_store import ObjectStore, Readable

log = logging.getLogger(__name__)

ENCRYPTED_SUFFIX = ".age"
_DRAIN = 1024 * 1024


@attrs.frozen
class CheckedArchive:
    """What one pass over an archive's stored bytes found."""

    size: int
    """Stored bytes, as they are (gzipped when the archive is)."""
    sha256: str
    """Hex digest of the stored bytes."""
    archive: ArchiveSummary
    """The archive's structure, counts and CRCs, all of them found intact."""


@attrs.frozen
class VerificationReport:
    key: str
    manifest: Manifest
    """The manifest the stored bytes were compared with."""
    checked: CheckedArchive


def check_stream(*, stream: Readable) -> CheckedArchive:
    """Reads `stream` once, hashing the stored bytes while the archive reader walks them.

    Raises:
        VerificationFailedError: the archive is not intact (see `read_archive`).
    """
    digesting = DigestingReader(stream)
    summary = read_archive(digesting)
    return CheckedArchive(size=digesting.size, sha256=digesting.hexdigest(), archive=summary)


@attrs.frozen
class VerifyBackup:
    """Checks a stored backup against its manifest and the archive format, in one download."""

    store: ObjectStore

    def run(self, *, key: str) -> VerificationReport:
        """Raises: BackupNotFoundError for no archive at `key`; VerificationFailedError when the
        backup is encrypted, incomplete, or differs from its manifest, or the archive is bad."""
        if key.endswith(ENCRYPTED_SUFFIX):
            raise VerificationFailedError(
                f"Cannot verify {key}: verifying encrypted (.age) archives is not supported yet",
                details={"key": key, "reason": "encrypted archives are not supported yet"},
            )
        if not self.store.exists(key=key):
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        manifest = self._manifest(key)
        summary: ArchiveSummary | None = None
        archive_error: VerificationFailedError | None = None
        with self.store.open_read(key=key) as stream:
            digesting = DigestingReader(stream)
            try:
                summary = read_archive(digesting)
            except VerificationFailedError as error:
                # Read on, so the report can also say whether the stored bytes changed.
                archive_error = error
                while digesting.read(_DRAIN):
                    pass
        checked_size, checked_sha = digesting.size, digesting.hexdigest()
        problems = _manifest_problems(manifest, checked_size, checked_sha)
        if problems or summary is None:
            raise _failure(key, manifest, checked_size, checked_sha, problems, archive_error)
        checked = CheckedArchive(size=checked_size, sha256=checked_sha, archive=summary)
        count_problems = _count_problems(manifest, summary)
        if count_problems:
            raise VerificationFailedError(
                f"Backup {key} has other document counts than its manifest: "
                + "; ".join(count_problems),
                details={"key": key, "problems": count_problems},
            )
        log.info("backup verified", extra={"key": key, "bytes": checked_size})
        return VerificationReport(key=key, manifest=manifest, checked=checked)

    def _manifest(self, key: str) -> Manifest:
        at = manifest_key(key)
        if not self.store.exists(key=at):
            raise VerificationFailedError(
                f"Backup {key} is incomplete: it has no manifest, so its upload never finished",
                details={"key": key, "manifest_key": at, "reason": "incomplete"},
            )
        with self.store.open_read(key=at) as stream:
            data = stream.read()
        try:
            return decode_manifest(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationFailedError(
                f"Backup {key} has an unreadable manifest ({type(exc).__name__})",
                details={"key": key, "manifest_key": at, "reason": "unreadable manifest"},
            ) from None


def _manifest_problems(manifest: Manifest, size: int, sha256: str) -> list[str]:
    problems = []
    if size != manifest.size:
        problems.append(f"size is {size} bytes, the manifest says {manifest.size}")
    if sha256 != manifest.sha256:
        problems.append(f"sha256 mismatch: stored bytes hash to {sha256}, not {manifest.sha256}")
    return problems


def _count_problems(manifest: Manifest, summary: ArchiveSummary) -> list[str]:
    # mongodump reports a time-series collection under its own name and the archive holds its
    # buckets, so only the namespaces both sides name can be compared.
    counts = summary.counts
    return [
        f"{namespace}: {counts[namespace]} documents in the archive, {expected} in the manifest"
        for namespace, expected in sorted((manifest.namespaces or {}).items())
        if namespace in counts and counts[namespace] != expected
    ]


def _failure(
    key: str,
    manifest: Manifest,
    size: int,
    sha256: str,
    problems: list[str],
    archive_error: VerificationFailedError | None,
) -> VerificationFailedError:
    details: dict[str, Any] = {
        "key": key,
        "expected": {"size": manifest.size, "sha256": manifest.sha256},
        "actual": {"size": size, "sha256": sha256},
        "problems": list(problems),
    }
    if archive_error is not None:
        details["archive"] = archive_error.details
        problems = [*problems, archive_error.message]
    return VerificationFailedError(
        f"Backup {key} failed verification: " + "; ".join(problems), details=details
    )
