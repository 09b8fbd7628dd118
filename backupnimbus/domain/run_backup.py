"""RunBackup: one dump streamed into the store, then its manifest."""

from __future__ import annotations

import contextlib
import logging

import attrs

from backupnimbus.domain.deadline import out_of_time, watch_deadline
from backupnimbus.domain.keys import archive_key, manifest_key
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import (
    BackupRequest,
    BackupResult,
    Manifest,
    ServerSideEncryption,
    SourceInfo,
)
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.streams import DigestingReader
from backupnimbus.errors import BackupNimbusError, ObjectExistsError
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.dump_runner import DumpRunner
from backupnimbus.ports.object_store import ObjectStore, Readable
from backupnimbus.stop_signal import StopSignal

log = logging.getLogger(__name__)


@attrs.frozen
class BackupSettings:
    prefix: str
    """Key prefix in the store, ending in '/' (or empty)."""
    source: SourceInfo
    tool_version: str
    server_side_encryption: ServerSideEncryption | None = None
    """What the store encrypts each upload with at rest, for the manifest."""


@attrs.frozen
class RunBackup:
    """Dumps the source into the store: archive first, manifest last."""

    dumps: DumpRunner
    store: ObjectStore
    clock: Clock
    settings: BackupSettings
    cipher: ArchiveCipher = attrs.field(factory=NoEncryption)
    """Encrypts the archive on its way to the store when it has recipients."""

    def run(self, *, request: BackupRequest) -> BackupResult:
        started = self.clock.now()
        key = archive_key(
            prefix=self.settings.prefix,
            name=request.name,
            at=request.timestamp or started,
            compressed=request.compress,
            encrypted=bool(self.cipher.recipients),
        )
        # Checked up front so a taken key fails in milliseconds, not after a full dump; the
        # store's conditional write remains the guarantee against a race.
        if self.store.exists(key=key):
            raise ObjectExistsError(f"A backup already exists at {key}", details={"key": key})
        if request.deadline is not None and self.clock.now() >= request.deadline:
            raise out_of_time(key=key, deadline=request.deadline, bytes_read=0)
        dump_version = self.dumps.describe_tool()
        log.info("backup started", extra={"key": key, "backup_name": request.name})
        with self.dumps.open_dump(compress=request.compress, stop=StopSignal()) as dump:
            with self._stored_form(dump) as stored:
                reader = DigestingReader(stored)
                with watch_deadline(
                    reader, deadline=request.deadline, clock=self.clock, stop=dump.stop, key=key
                ) as stream:
                    self.store.put_stream(key=key, stream=stream)
            namespaces = dump.namespaces()
        manifest = Manifest(
            name=request.name,
            key=key,
            size=reader.size,
            sha256=reader.hexdigest(),
            compressed=request.compress,
            encrypted=bool(self.cipher.recipients),
            started_at=started,
            finished_at=self.clock.now(),
            mongodump_version=dump_version,
            tool_version=self.settings.tool_version,
            source=self.settings.source,
            namespaces=dict(namespaces) or None,
            recipients=self.cipher.recipients,
            server_side_encryption=self.settings.server_side_encryption,
        )
        manifest_at = manifest_key(key)
        try:
            self.store.put_bytes(key=manifest_at, data=encode_manifest(manifest))
        except BaseException:
            self._forget_archive(key)
            raise
        log.info(
            "backup finished",
            extra={"key": key, "bytes": manifest.size, "duration_s": manifest.duration_s},
        )
        return BackupResult(manifest=manifest, manifest_key=manifest_at)

    def _stored_form(self, dump: Readable) -> contextlib.AbstractContextManager[Readable]:
        """The dump as it is stored: encrypted when there are recipients. The manifest's size
        and sha256 are of these bytes, so that they can be checked without a key."""
        if self.cipher.recipients:
            return self.cipher.encrypting(dump)
        return contextlib.nullcontext(dump)

    def _forget_archive(self, key: str) -> None:
        # Without its manifest the archive would pass for a backup nobody can vouch for, and a
        # failed run must leave nothing at the final key (DESIGN §3).
        try:
            self.store.delete(key=key)
        except BackupNimbusError:
            log.exception("could not delete the archive of a failed backup", extra={"key": key})
        else:
            log.warning(
                "deleted the archive: its manifest could not be written", extra={"key": key}
            )
